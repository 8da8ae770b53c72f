#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (into build/fuzz) and runs each one for a
# while over a copy of its seed corpus, so the repository's corpus never grows.
#
#   scripts/fuzz.sh                     every target, 60 s each (8 targets: about 9 minutes
#                                       plus the build)
#   scripts/fuzz.sh --seconds 300       longer
#   scripts/fuzz.sh fuzz_url fuzz_router   only these
#
# Installs what it needs (scripts/install-deps.sh, clang, libclang-rt-14-dev), so it runs in
# a fresh clone, as in CI. First every seed (including saved crash-* inputs) is replayed once,
# then each target fuzzes; no target runs longer than its seconds plus 2 minutes (a hung run
# is a finding too). Exits non-zero if any target crashes or breaks an invariant, printing the
# reproducer's path and, for a CI log that outlives the build directory, its bytes in base64.
# HERALD_FUZZ_KNOWN (see fuzz/README.md) steps over known findings; CI leaves it unset.
# FUZZ_JOBS sets the build's parallelism (default: the number of CPUs).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --seconds=*) seconds="${1#*=}"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    fuzz_*) targets+=("$1"); shift ;;
    *) echo "fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$seconds" in ''|*[!0-9]*) echo "fuzz.sh: --seconds takes a whole number" >&2; exit 2 ;; esac
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_request_parser fuzz_publish_decoder fuzz_url fuzz_topic_name
                                     fuzz_sse_encoder fuzz_settings fuzz_router fuzz_jwt)

# Per target: longest input, dictionary.
declare -A max_len=([fuzz_request_parser]=4096 [fuzz_router]=4096 [fuzz_publish_decoder]=4096 [fuzz_url]=1024
                    [fuzz_topic_name]=300 [fuzz_sse_encoder]=2048 [fuzz_settings]=2048 [fuzz_jwt]=2048)
declare -A dict=([fuzz_request_parser]=http [fuzz_router]=http [fuzz_publish_decoder]=json [fuzz_settings]=json
                 [fuzz_url]=url [fuzz_sse_encoder]=sse [fuzz_topic_name]=sse [fuzz_jwt]=jwt)
for t in "${targets[@]}"; do
  if [ -z "${max_len[$t]:-}" ] || [ ! -d "fuzz/corpus/${t#fuzz_}" ]; then
    echo "fuzz.sh: unknown target '$t' (known: ${!max_len[*]})" >&2
    exit 2
  fi
done
start=$SECONDS

# Packages: the project's own, plus clang and its sanitizer/libFuzzer runtimes.
scripts/install-deps.sh
missing=()
for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "fuzz.sh: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! grep -q 'HERALD_FUZZ' CMakeLists.txt; then
  echo "fuzz.sh: CMakeLists.txt has no HERALD_FUZZ option; add the block from fuzz/README.md" >&2
  exit 2
fi

build=build/fuzz
CC=clang CXX=clang++ cmake -S . -B "$build" -DHERALD_FUZZ=ON -DBUILD_TESTING=OFF -DHERALD_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"${FUZZ_JOBS:-$(nproc)}" --target "${targets[@]}"
[ -z "${HERALD_FUZZ_KNOWN:-}" ] || echo "fuzz.sh: HERALD_FUZZ_KNOWN=$HERALD_FUZZ_KNOWN: those findings are stepped over"

# A finding's input, for a log that outlives the build directory.
show_input() {
  local size
  size=$(stat -c %s "$1")
  if [ "$size" -le 8192 ]; then
    echo "    input ($size bytes; recreate it by pasting these lines into: base64 -d > crash):"
    base64 -w 100 "$1" | sed 's/^/      /'
  else
    echo "    input: $size bytes (too long to print)"
  fi
}

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=()
for t in "${targets[@]}"; do
  bin="$build/fuzz/$t"
  seeds="fuzz/corpus/${t#fuzz_}"
  run="$build/run/$t"
  rm -rf "$run"
  mkdir -p "$run/corpus" "$run/artifacts"
  cp "$seeds"/* "$run/corpus/"
  log="$run/fuzz.log"

  # Every seed once, whole (fuzzing truncates inputs to max_len); saved crash-* inputs first.
  replay=("$seeds"/crash-* "$seeds"/*)
  [ -e "${replay[0]}" ] || replay=("${replay[@]:1}")
  if ! ( timeout -k 10 300 "$bin" -timeout=10 "${replay[@]}" || exit $? ) >"$run/replay.log" 2>&1; then
    bad=$(grep -o 'Running: .*' "$run/replay.log" | tail -1 | cut -d' ' -f2-)
    echo "FAIL $t: seed ${bad:-?} crashes or breaks an invariant (log: $run/replay.log)"
    grep -m4 -E -A2 'broken invariant|ERROR:|SUMMARY:' "$run/replay.log" | cut -c1-400 | sed 's/^/    /' || true
    echo "    reproduce: $bin $bad"
    failed+=("$t")
    continue
  fi

  echo "== $t: ${seconds}s"
  status=0
  ( timeout -k 10 $((seconds + 120)) "$bin" "$run/corpus" -max_total_time="$seconds" -max_len="${max_len[$t]}" \
    -dict="fuzz/dict/${dict[$t]}.dict" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$run/artifacts/" \
    -print_final_stats=1 || exit $? ) >"$log" 2>&1 || status=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  if [ "$status" -ne 0 ]; then
    repro=$(ls -t "$run/artifacts"/* 2>/dev/null | head -1 || true)
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
      echo "FAIL $t: still running after $((seconds + 120))s, stopped (log: $log)"
    fi
    echo "FAIL $t (exit $status): reproducer ${repro:-none saved} (log: $log)"
    grep -m4 -E -A2 'broken invariant|ERROR:|SUMMARY:' "$log" | cut -c1-400 | sed 's/^/    /' || true
    if [ -n "$repro" ]; then
      echo "    reproduce: $bin $repro"
      echo "    minimise:  $bin -minimize_crash=1 -runs=10000 $repro"
      show_input "$repro"
    fi
    failed+=("$t")
  else
    echo "   ok: ${execs:-?} runs, ${rate:-?} exec/s, corpus $(ls "$run/corpus" | wc -l) inputs"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failed: ${failed[*]} ($((SECONDS - start))s)"
  exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets ran ${seconds}s without a finding ($((SECONDS - start))s)"
