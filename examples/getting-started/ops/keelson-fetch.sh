#!/bin/sh
# Keelson's fetch program for the `vm` runtime: prints what runs, as a Keelson observation.
set -eu
state=${STATE_DIR:-$(dirname "$0")/../.state/vm}
port=${APP_PORT:-18200}
if [ ! -f "$state/pid" ] || ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
    echo '{"objects": {}}'      # nothing runs
    exit 0
fi
version=$(cat "$state/version")
if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" 2>/dev/null; then
    status=healthy message="answers on port $port"
else
    status=unhealthy message="/healthz on port $port does not answer 2xx"
fi
printf '{"objects": {"hello-api": {"version": "%s", "status": "%s", "message": "%s"}}}\n' "$version" "$status" "$message"
