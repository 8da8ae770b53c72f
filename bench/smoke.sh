#!/usr/bin/env bash
# Starts a Herald on a free loopback port, runs `herald_bench --smoke` against it for a few
# seconds, stops it. Exits non-zero if any event was lost, duplicated or reordered.
#
#   bash bench/smoke.sh build/bench/herald build/bench/herald_bench
#
# For CTest (in the top-level CMakeLists.txt, after add_subdirectory(bench)):
#   add_test(NAME bench.smoke COMMAND bash ${CMAKE_SOURCE_DIR}/bench/smoke.sh
#            $<TARGET_FILE:herald> $<TARGET_FILE:herald_bench>)
set -euo pipefail
HERALD=${1:?usage: smoke.sh HERALD_BIN HERALD_BENCH_BIN}
BENCH=${2:?usage: smoke.sh HERALD_BIN HERALD_BENCH_BIN}
LOG=$(mktemp /tmp/herald-smoke.XXXXXX)
"$HERALD" --host 127.0.0.1 --port 0 --threads 2 --log-level info >"$LOG" 2>&1 &
PID=$!
trap 'kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -f "$LOG"' EXIT
PORT=""
for _ in $(seq 1 100); do
  PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$LOG" | head -1)
  [ -n "$PORT" ] && break
  kill -0 "$PID" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
  sleep 0.05
done
[ -n "$PORT" ] || { echo "smoke.sh: herald did not say which port it listens on" >&2; cat "$LOG" >&2; exit 1; }
timeout 60 "$BENCH" --smoke --target herald --url "http://127.0.0.1:$PORT" >/dev/null
