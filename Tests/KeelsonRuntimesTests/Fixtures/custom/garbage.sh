#!/bin/sh
# Prints something that is not a Keelson observation.
echo "vm-1 OK version=1.0.0"
