#!/usr/bin/env python3
"""shop/worker: a background worker with no port; its health check is a command."""
import os
import signal
import sys
import time

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
version = os.environ.get("KEELSON_VERSION", "dev")
print(f"shop/worker {version} started", flush=True)
while True:
    time.sleep(30)
    print(f"shop/worker {version}: still working", flush=True)
