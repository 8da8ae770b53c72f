#!/usr/bin/env bash
# Builds Herald and herald_bench (Release), then runs each scenario against Herald and
# against nginx + nchan, one server at a time: the server pinned to core 0, the load
# generator to core 1. Prints a comparison table and writes bench/results/latest.json.
#
#   bash bench/run.sh                      # every scenario, full size (about 8 minutes)
#   bash bench/run.sh --quick              # small counts, under a minute
#   bash bench/run.sh --scenarios fanout,latency --targets herald
#
# Only loopback addresses are used: servers listen on 127.0.0.1, subscribers connect
# from 127.0.0.2..127.0.0.50.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

ALL_SCENARIOS="fanout,latency,idle,many_topics,publish,reconnect,scale"
SCENARIOS=$ALL_SCENARIOS
TARGETS="herald,nchan"
QUICK=0
BUILD=1
HISTORY_SIZE=1000
HERALD_PORT=${HERALD_PORT:-18080}
NCHAN_PORT=${NCHAN_PORT:-18090}
BUILD_DIR=${BUILD_DIR:-$ROOT/build/bench}
RESULTS=$ROOT/bench/results
OUT=$RESULTS/latest.json
EXTRA=()
RETRIES=1
QUIET_WAIT=${QUIET_WAIT:-120}    # longest wait for quiet before one measurement
QUIET_BUDGET=${QUIET_BUDGET:-360}  # all waiting in one run, so a busy machine still finishes
ORIG_ARGS="$*"

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  cat <<USAGE

options:
  --quick                 small counts and short durations
  --scenarios LIST        comma-separated, from: $ALL_SCENARIOS
  --targets LIST          herald,nchan (default both)
  --out FILE              results JSON (default bench/results/latest.json)
  --no-build              use the binaries already in \$BUILD_DIR ($BUILD_DIR)
  --bench-arg ARG         pass ARG to every herald_bench run (repeatable)
  --retries N             rerun a measurement that other programs disturbed (default 1)

Before each measurement it waits (up to \$QUIET_WAIT=$QUIET_WAIT s, and \$QUIET_BUDGET=$QUIET_BUDGET s
in all) until other programs use less than 15% of a core.
USAGE
}

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --scenarios) SCENARIOS=$2; shift ;;
    --targets) TARGETS=$2; shift ;;
    --out) OUT=$2; shift ;;
    --no-build) BUILD=0 ;;
    --bench-arg) EXTRA+=("$2"); shift ;;
    --retries) RETRIES=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

# --- packages ---------------------------------------------------------------------------
install_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "run.sh: installing ${missing[*]}"
    local sudo_cmd=""
    [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}
if [ "$BUILD" = 1 ]; then scripts/install-deps.sh; fi
[[ ",$TARGETS," == *",nchan,"* ]] && install_packages nginx-light libnginx-mod-nchan
install_packages util-linux procps python3 curl   # taskset, python3 for the report

# --- build ------------------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DHERALD_BUILD_BENCH=ON >/dev/null
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target herald herald_bench >/dev/null
fi
HERALD=$BUILD_DIR/herald
BENCH=$BUILD_DIR/herald_bench
[ -x "$HERALD" ] && [ -x "$BENCH" ] || { echo "run.sh: missing $HERALD or $BENCH" >&2; exit 1; }

# --- cores ------------------------------------------------------------------------------
SERVER_CORE=0
CLIENT_CORE=1
if [ "$(nproc)" -lt 2 ]; then
  echo "run.sh: fewer than 2 cores: server and load generator share core 0" >&2
  CLIENT_CORE=0
fi

# Both servers and the load generator run at a raised priority, so that other programs on
# the machine disturb the figures less (each result also says how much CPU others took).
NICE=""
[ "$(id -u)" = 0 ] && NICE="nice -n -10"

mkdir -p "$RESULTS/logs"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$RESULTS/run-$STAMP.jsonl
: >"$RAW"
WORK=$(mktemp -d /tmp/herald-bench.XXXXXX)
SERVER_PID=""

stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
cleanup() { stop_server; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_ready() {  # url
  for _ in $(seq 1 100); do
    curl -fs -o /dev/null --max-time 1 "$1" && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# The open-files cap (20,000 here) bounds both the server and the load generator.
MAX_FILES=$(ulimit -Hn)
[ "$MAX_FILES" = unlimited ] && MAX_FILES=1048576
MAX_CONNECTIONS=$((MAX_FILES - 10))

start_herald() {  # scenario
  local heartbeat=15s
  [ "$1" = scale ] && heartbeat=5s
  port_free "$HERALD_PORT" || { echo "run.sh: port $HERALD_PORT is taken" >&2; return 1; }
  $NICE taskset -c "$SERVER_CORE" "$HERALD" --host 127.0.0.1 --port "$HERALD_PORT" --threads 1 \
    --history-size "$HISTORY_SIZE" --max-connections "$MAX_CONNECTIONS" --heartbeat-interval "$heartbeat" \
    --log-level warn >"$RESULTS/logs/herald-$1.log" 2>&1 &
  SERVER_PID=$!
  wait_ready "http://127.0.0.1:$HERALD_PORT/healthz"
}

start_nchan() {  # scenario
  local ping=0 prefix=$WORK/nchan-$1
  [ "$1" = scale ] && ping=5
  port_free "$NCHAN_PORT" || { echo "run.sh: port $NCHAN_PORT is taken" >&2; return 1; }
  mkdir -p "$prefix"
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@PORT@|$NCHAN_PORT|g" -e "s|@HISTORY_SIZE@|$HISTORY_SIZE|g" \
      -e "s|@PING_INTERVAL@|$ping|g" -e "s|@MAX_FILES@|$MAX_FILES|g" \
      -e "s|@WORKER_CONNECTIONS@|$((MAX_FILES * 2))|g" \
      bench/nchan.conf.template >"$prefix/nginx.conf"
  $NICE taskset -c "$SERVER_CORE" nginx -p "$prefix" -c "$prefix/nginx.conf" >"$RESULTS/logs/nchan-$1.log" 2>&1 &
  SERVER_PID=$!
  wait_ready "http://127.0.0.1:$NCHAN_PORT/healthz"
}

# "noisy" when other programs took more than a quarter of a core during the last result.
noise() {
  tail -n 1 "$1" | python3 -c '
import json, sys
try:
    s = json.loads(sys.stdin.read())["metrics"].get("server", {})
    print("noisy" if s.get("wall_s") and s.get("others_user_cpu_s", 0) / s["wall_s"] > 0.25 else "quiet")
except Exception:
    print("quiet")'
}

# Other programs on the machine skew every figure: wait for them to calm down first.
busy_jiffies() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat; }
wait_quiet() {
  local waited=0 hz a b pct
  hz=$(getconf CLK_TCK)
  while :; do
    a=$(busy_jiffies); sleep 2; b=$(busy_jiffies)
    pct=$(( (b - a) * 100 / (2 * hz) ))
    [ "$pct" -le 15 ] && return 0
    if [ "$waited" -ge "$QUIET_WAIT" ] || [ "$QUIET_BUDGET" -le 0 ]; then
      echo "run.sh: other programs still use ${pct}% of a core; measuring anyway" >&2
      return 1
    fi
    [ "$waited" = 0 ] && echo "run.sh: other programs use ${pct}% of a core; waiting for quiet" >&2
    sleep 3
    waited=$((waited + 5))
    QUIET_BUDGET=$((QUIET_BUDGET - 5))
  done
}

QUICK_ARG=()
[ "$QUICK" = 1 ] && QUICK_ARG=(--quick)
FAILED=0
START=$(date +%s)
IFS=, read -ra SCENARIO_LIST <<<"$SCENARIOS"
IFS=, read -ra TARGET_LIST <<<"$TARGETS"
for scenario in "${SCENARIO_LIST[@]}"; do
  for target in "${TARGET_LIST[@]}"; do
    for attempt in $(seq 0 "$RETRIES"); do
      quiet=1
      wait_quiet || quiet=0
      if [ "$attempt" -gt 0 ] && [ "$quiet" = 0 ]; then break; fi  # a retry is only worth it in quiet
      case "$target" in
        herald) start_herald "$scenario" || { echo "run.sh: herald did not start" >&2; exit 1; }; port=$HERALD_PORT ;;
        nchan) start_nchan "$scenario" || { echo "run.sh: nginx/nchan did not start (see $RESULTS/logs)" >&2; exit 1; }; port=$NCHAN_PORT ;;
        *) echo "run.sh: unknown target $target" >&2; exit 2 ;;
      esac
      echo "== $scenario / $target (server pid $SERVER_PID)" >&2
      status=0
      timeout 600 $NICE taskset -c "$CLIENT_CORE" "$BENCH" --scenario "$scenario" --target "$target" \
        --url "http://127.0.0.1:$port" --server-pid "$SERVER_PID" --json-out "$RAW" "${QUICK_ARG[@]}" "${EXTRA[@]}" \
        >/dev/null || status=$?
      stop_server
      # nginx's error log lives in the work dir, which goes away: keep a copy.
      [ "$target" = nchan ] && cp -f "$WORK/nchan-$scenario/error.log" "$RESULTS/logs/nchan-$scenario.error.log" 2>/dev/null || true
      # Rerun a measurement that other programs disturbed (more than a quarter of a core);
      # the report keeps the least disturbed result of each pair.
      if [ "$attempt" -lt "$RETRIES" ] && [ "$QUIET_BUDGET" -gt 0 ] && [ "$(noise "$RAW")" = noisy ]; then
        echo "run.sh: $scenario / $target was disturbed by other programs; measuring again" >&2
        continue
      fi
      break
    done
    [ "$status" = 0 ] || FAILED=1
  done
done
ELAPSED=$(( $(date +%s) - START ))

python3 bench/report.py "$RAW" --out "$OUT" --elapsed "$ELAPSED" --quick "$QUICK" \
  --command "bash bench/run.sh${ORIG_ARGS:+ $ORIG_ARGS}" \
  --herald-version "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- server broker config 2>/dev/null || echo -dirty)" \
  --nchan-version "$(dpkg-query -W -f='nginx ${Version}' nginx 2>/dev/null || true), $(dpkg-query -W -f='nchan ${Version}' libnginx-mod-nchan 2>/dev/null || true)"
echo "raw results: $RAW" >&2
echo "results: $OUT (${ELAPSED} s)" >&2
exit $FAILED
