#!/bin/sh
# Never finishes (and starts a child that would keep the output open).
echo "waiting forever"
sleep 600 &
sleep 600
