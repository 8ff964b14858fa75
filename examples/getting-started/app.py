#!/usr/bin/env python3
"""hello/api: the service of docs/getting-started.md — a tiny web server on 127.0.0.1:$PORT.

`/` answers with its version, `/healthz` with 200 (500 in a version containing "bad", so that you
can watch a rollback). Only python3's standard library.
"""
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("KEELSON_VERSION") or os.environ.get("APP_VERSION", "dev")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        healthy = "bad" not in VERSION
        if self.path == "/healthz":
            status, body = (200 if healthy else 500), {"version": VERSION, "healthy": healthy}
        else:
            status, body = 200, {"hello": "world", "version": VERSION}
        data = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass


signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
port = int(os.environ.get("PORT", "8080"))
print(f"hello/api {VERSION} on 127.0.0.1:{port}", flush=True)
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
