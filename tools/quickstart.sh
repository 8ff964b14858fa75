#!/usr/bin/env bash
# Runs the README's quickstart as written — `swift run keelson up`, then the commands the README
# lists and the hints `keelson up` prints, each run exactly as printed — and checks what a new user
# should see: a real release reaching every channel (approving prod), a bad release rolled back by
# itself, every decision replayed identically, and after Ctrl-C, `keelson down` as `up` names it
# stopping the processes that keep running. .ci/run calls it.
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
    "$keelson" down >/dev/null 2>&1 || true   # the real processes it started
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

# The hints `keelson up` printed, exactly as printed: "  <command>   <what it does>".
until grep -q "Try, in another terminal" "$log"; do
    if ! kill -0 "$up" 2>/dev/null; then echo "quickstart: keelson up exited" >&2; cat "$log" >&2; exit 1; fi
    sleep 1
done
sleep 1
mapfile -t hints < <(sed -n '/Try, in another terminal/,/The commands above/p' "$log" \
    | sed -nE 's/^  ((swift run -q keelson|curl) .*[^ ])( {2,}.*)?$/\1/p' | sed -E 's/ {2,}.*$//')
printf 'quickstart: up printed %d hints\n' "${#hints[@]}"
hint() {   # the hint that starts with $1
    for line in "${hints[@]}"; do
        if [[ $line == "$1"* ]]; then echo "$line"; return; fi
    done
    echo "quickstart: keelson up printed no hint starting with '$1'" >&2
    cat "$log" >&2
    exit 1
}
run_hint() { local line; line=$(hint "$1"); echo "\$ $line"; eval "$line"; }

wait_for '@staging$' converged 120
wait_for '@canary$' converged 120
# The README's commands (and the same hints as `keelson up` printed them).
swift run -q keelson status
swift run -q keelson timeline shop/web
swift run -q keelson explain shop/web@staging
run_hint "swift run -q keelson status"
run_hint "swift run -q keelson timeline shop/web"
run_hint "swift run -q keelson explain shop/web@staging"
run_hint "swift run -q keelson approve shop/web@prod-eu"
for instance in shop/web@prod-us shop/worker@prod-eu shop/worker@prod-us; do
    swift run -q keelson approve "$instance"
done
wait_for '' converged 300

set +e
bad_hint=$(hint "swift run -q keelson release shop/web --version 1.1.0-bad --wait")
[ "$bad_hint" = "swift run -q keelson release shop/web --version 1.1.0-bad --wait" ] || { echo "quickstart: the bad-release hint differs from the README: $bad_hint" >&2; exit 1; }
swift run -q keelson release shop/web --version 1.1.0-bad --wait --timeout 3m | tee .keelson-quickstart-bad.log
bad=${PIPESTATUS[0]}
set -e
if [ "$bad" -ne 1 ]; then echo "quickstart: the bad release should fail and exit 1, not $bad" >&2; exit 1; fi
wait_for 'shop/web@staging' rolledBack 120
# The channels after staging keep 1.0.0: converged on it, the bad release held back (not failed).
grep -q "held back, 1.1.0-bad never applied (runs 1.0.0): shop/web@canary" .keelson-quickstart-bad.log \
    || { echo "quickstart: the channels after staging should hold 1.1.0-bad back on 1.0.0" >&2; exit 1; }
wait_for 'shop/web@(canary|prod)' converged 60

swift run -q keelson replay --verify
run_hint "swift run -q keelson replay --verify"
run_hint "curl " > /dev/null

# Ctrl-C: keelson up says what keeps running, and the command that stops it works as printed.
kill -INT "$up"
wait "$up" || true
grep -q "Still running: " "$log" || { echo "quickstart: after Ctrl-C keelson up did not say what keeps running" >&2; tail -20 "$log" >&2; exit 1; }
down=$(sed -nE 's/^Stop them with `([^`]*)`.*/\1/p' "$log")
[ "$down" = "$(hint "swift run -q keelson down")" ] || { echo "quickstart: the exit hint '$down' differs from the hint printed at start" >&2; exit 1; }
echo "\$ $down"
eval "$down"
swift run -q keelson down --dry-run | grep -q "no local process runs" || { echo "quickstart: processes still run after down" >&2; exit 1; }
echo "quickstart: ok"
