#!/bin/sh
# Succeeds: reports one object per VM with the version apply-ok.sh recorded.
set -eu
version=$(cat "$STATE/version" 2>/dev/null || echo none)
cat <<JSON
{"objects": {
  "vm-1": {"version": "$version", "replicas": 1, "readyReplicas": 1, "status": "healthy", "message": "systemd unit active"},
  "vm-2": {"version": "$version", "replicas": 1, "status": "unhealthy", "message": "port 8080 closed", "drifted": true}
}}
JSON
