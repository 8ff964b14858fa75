#!/usr/bin/env python3
"""shop/web: a tiny real web service for Keelson's local-process runtime.

Listens on 127.0.0.1:$PORT. `/` greets, `/healthz` answers 200 — except in a deliberately bad
release: any version containing "bad" (e.g. `keelson release shop/web --version 1.5.0-bad`)
starts fine but fails its health check, so that a rollout of it fails and is rolled back.
Needs only python3's standard library.
"""
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("KEELSON_VERSION", "dev")
REPLICA = os.environ.get("KEELSON_REPLICA", "-")
GREETING = os.environ.get("GREETING", "hello")
BAD = "bad" in VERSION


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/healthz":
            status, body = (500, {"status": "broken", "version": VERSION}) if BAD else (200, {"status": "ok", "version": VERSION})
        elif self.path == "/":
            status, body = 200, {"greeting": GREETING, "version": VERSION, "replica": REPLICA}
        else:
            status, body = 404, {"error": "not found", "path": self.path}
        data = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        sys.stdout.write("%s %s\n" % (self.address_string(), format % args))
        sys.stdout.flush()


def main():
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: (print("SIGTERM: shutting down", flush=True), sys.exit(0)))
    print(f"shop/web {VERSION} (replica {REPLICA}) listening on 127.0.0.1:{port}", flush=True)
    if BAD:
        print(f"version {VERSION} is deliberately broken: /healthz answers 500", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
