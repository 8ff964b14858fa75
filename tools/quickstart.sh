#!/usr/bin/env bash
# Runs the README's quickstart as written — `swift run keelson up`, then the commands it suggests —
# and checks what a new user should see: a real release reaching every channel (approving prod),
# a bad release rolled back by itself, every decision replayed identically. .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

rm -rf .keelson
swift build --product keelson
keelson="$(swift build --show-bin-path)/keelson"   # for the polling loops; the README's commands use swift run
log=.keelson-quickstart.log

swift run keelson up > "$log" 2>&1 &
up=$!
cleanup() {
    kill -INT "$up" 2>/dev/null || true
    wait "$up" 2>/dev/null || true
    for instance in shop/web@staging shop/web@canary shop/worker@staging shop/worker@canary; do
        "$keelson" runtime remove "$instance" >/dev/null 2>&1 || true   # the real processes it started
    done
}
trap cleanup EXIT

# Waits until `keelson status` shows every instance matching $1 with status $2 (or fails after $3 s).
wait_for() {
    local pattern=$1 status=$2 seconds=$3 start=$SECONDS
    until "$keelson" status -o json 2>/dev/null | python3 -c "
import json, re, sys
rows = [r for r in json.load(sys.stdin) if re.search(r'$pattern', r['instance'])]
sys.exit(0 if rows and all(r['status'] == '$status' for r in rows) else 1)" 2>/dev/null; do
        if (( SECONDS - start > seconds )); then
            echo "quickstart: $pattern did not reach $status within ${seconds}s" >&2
            "$keelson" status >&2 || true
            cat "$log" >&2
            exit 1
        fi
        sleep 2
    done
    echo "quickstart: $pattern $status after $(( SECONDS - start ))s"
}

wait_for '@staging$' converged 120
wait_for '@canary$' converged 120
swift run keelson status
swift run keelson timeline shop/web --limit 10
swift run keelson explain shop/web@staging
for instance in shop/web@prod-eu shop/web@prod-us shop/worker@prod-eu shop/worker@prod-us; do
    swift run keelson approve "$instance"
done
wait_for '' converged 300

set +e
swift run keelson release shop/web --version 1.1.0-bad --wait --timeout 3m
bad=$?
set -e
if [ "$bad" -ne 1 ]; then echo "quickstart: the bad release should fail and exit 1, not $bad" >&2; exit 1; fi
wait_for 'shop/web@staging' rolledBack 120

swift run keelson replay --verify
curl -sf -H "Authorization: Bearer $(cat .keelson/admin.token)" http://127.0.0.1:7420/api/v1/status > /dev/null
echo "quickstart: ok"
