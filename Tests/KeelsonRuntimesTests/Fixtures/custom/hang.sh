#!/bin/sh
# Never finishes (and starts a child that would keep the output open). $HANG (default 600) is how
# long its sleeps last, so that a test can find them.
echo "waiting forever"
sleep "${HANG:-600}" &
sleep "${HANG:-600}"
