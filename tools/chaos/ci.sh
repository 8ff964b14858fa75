#!/usr/bin/env bash
# CI's chaos step: the chaos test in its bounded form — 60 SIGKILLs of keelson workers and servers
# within two minutes, on the local, custom and simulated runtimes, then the invariants (docs/chaos.md).
# A few minutes in all. The seed is 1 unless KEELSON_CHAOS_SEED is set (a number, or `random`), so
# that a CI result depends on the code rather than on the draw; a failing run prints its seed and
# the command that reruns it. .ci/run calls it after the tests.
set -euo pipefail
cd "$(dirname "$0")/../.."

swift build --product keelson --quiet
keelson="$(swift build --show-bin-path)/keelson"
seed=(--seed "${KEELSON_CHAOS_SEED:-1}")
if [ "${KEELSON_CHAOS_SEED:-}" = random ]; then seed=(); fi

# SIGINT at the outer bound lets the driver stop every process it started before it exits.
timeout --signal=INT --kill-after=60 900 \
    python3 tools/chaos/chaos.py --keelson "$keelson" --runtime all --kills 60 --duration 120 --settle 300 "${seed[@]}"
