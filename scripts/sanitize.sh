#!/usr/bin/env bash
# Builds Herald with sanitizers and runs tests under them:
#   scripts/sanitize.sh asan   AddressSanitizer + UndefinedBehaviorSanitizer, the whole suite
#   scripts/sanitize.sh tsan   ThreadSanitizer, the integration tests (real servers, all threads)
# Any report stops the server at once (halt_on_error), so the test that caused it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: scripts/sanitize.sh asan|tsan [ctest args]}
shift
scripts/install-deps.sh --test
case "$mode" in
  asan)
    flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
    export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=0"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
    # The hostile suite's timing limits don't hold for a sanitized server parsing megabyte
    # inputs (its witness times out); it runs unsanitized in scripts/test.sh.
    select=(-E integration.test_hostile)
    ;;
  tsan)
    flags="-fsanitize=thread -fno-omit-frame-pointer"
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
    select=(-L integration -E integration.test_hostile)
    ;;
  *) echo "unknown mode $mode (asan or tsan)" >&2; exit 2 ;;
esac
(cd test/browser && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
cmake -S . -B "build/$mode" -DCMAKE_BUILD_TYPE=Debug -DHERALD_BUILD_BENCH=OFF \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
cmake --build "build/$mode" -j"$(nproc)"
cd "build/$mode"
# Sanitized servers are slower: one test at a time keeps timing-sensitive tests honest.
ctest --output-on-failure "${select[@]}" "$@"
