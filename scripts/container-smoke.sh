#!/usr/bin/env bash
# Smoke test for a running Herald (used by container-check): health, readiness, and one
# event published and received over SSE.
set -euo pipefail
base=${1:-http://127.0.0.1:8080}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
curl -fsS "$base/healthz" >/dev/null
curl -fsS "$base/readyz" >/dev/null
curl -sN --max-time 3 "$base/events?topic=smoke" >"$out" &
sub=$!
for _ in $(seq 1 30); do grep -q ': connected' "$out" && break; sleep 0.1; done
id=$(curl -fsS -d 'hello from the smoke test' "$base/publish?topic=smoke")
wait "$sub" || true
grep -q '^data: hello from the smoke test' "$out" || { echo "smoke: event not received; stream was:"; cat "$out"; exit 1; }
echo "smoke: published $id and received it over SSE"
