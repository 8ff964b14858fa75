#!/bin/sh
# The deploy script you already have (here: a stand-in). `deploy.sh VERSION` replaces the running
# hello/api with VERSION and waits until it answers; `deploy.sh stop` stops it. It knows nothing
# of Keelson: ops/keelson-apply.sh and ops/keelson-fetch.sh wrap it.
set -eu
state=${STATE_DIR:-$(dirname "$0")/../.state/vm}
port=${APP_PORT:-18200}
mkdir -p "$state"

stop() {
    if [ -f "$state/pid" ]; then
        kill "$(cat "$state/pid")" 2>/dev/null || true
        rm -f "$state/pid" "$state/version"
    fi
}

if [ "${1:-}" = stop ]; then stop; exit 0; fi
version=${1:?usage: deploy.sh VERSION | stop}
stop
# A daemon: its own session, stdin from /dev/null (it must not keep Keelson's apply lock).
APP_VERSION=$version PORT=$port setsid python3 "$(dirname "$0")/../app.py" </dev/null >"$state/app.log" 2>&1 &
echo $! >"$state/pid"
echo "$version" >"$state/version"
for _ in $(seq 1 50); do
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/', timeout=1)" 2>/dev/null; then
        echo "deployed $version on port $port"
        exit 0
    fi
    sleep 0.2
done
echo "hello/api $version did not start on port $port" >&2
exit 1
