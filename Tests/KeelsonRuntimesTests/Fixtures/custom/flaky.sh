#!/bin/sh
# Fails with a retryable code (75, EX_TEMPFAIL) until its third attempt.
mkdir -p "$STATE"
count=$(( $(cat "$STATE/attempts" 2>/dev/null || echo 0) + 1 ))
echo "$count" > "$STATE/attempts"
if [ "$count" -lt 3 ]; then
  echo "lock held by another deploy (attempt $count)" >&2
  exit 75
fi
echo "deployed on attempt $count"
