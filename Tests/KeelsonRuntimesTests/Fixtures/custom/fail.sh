#!/bin/sh
# Fails for good.
echo "starting deploy"
echo "error: disk full on vm-1" >&2
exit 2
