#!/bin/sh
# Keelson's apply program for the `vm` runtime: turns Keelson's request (KEELSON_* variables; the
# same as JSON on stdin) into a call of the deploy script.
set -eu
state=${STATE_DIR:-$(dirname "$0")/../.state/vm}
mkdir -p "$state"
case "$KEELSON_ACTION" in
remove)
    exec "$(dirname "$0")/deploy.sh" stop
    ;;
apply)
    # A request Keelson re-issues after a crash carries the key of the first: done is done.
    if [ "$(cat "$state/last-key" 2>/dev/null)" = "$KEELSON_IDEMPOTENCY_KEY" ] && [ -f "$state/pid" ]; then
        echo "already applied: $KEELSON_IDEMPOTENCY_KEY"
        exit 0
    fi
    "$(dirname "$0")/deploy.sh" "$KEELSON_VERSION"
    echo "$KEELSON_IDEMPOTENCY_KEY" >"$state/last-key"
    ;;
esac
