#!/bin/sh
# Succeeds: records what it was asked (stdin JSON and environment) in $STATE, as a VM agent would.
set -eu
mkdir -p "$STATE"
cat > "$STATE/request.json"
echo "$KEELSON_VERSION" > "$STATE/version"
env | grep '^KEELSON_' | sort > "$STATE/env"
echo "deployed $KEELSON_SERVICE $KEELSON_VERSION to $KEELSON_CHANNEL ($KEELSON_REPLICAS replicas)"
echo "a warning on stderr" >&2
