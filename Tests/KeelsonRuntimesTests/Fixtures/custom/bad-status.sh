#!/bin/sh
# Prints JSON in the wrong shape: a status Keelson does not know.
echo '{"objects": {"vm-1": {"version": "1.0.0", "status": "ok"}}}'
