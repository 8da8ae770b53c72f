#!/usr/bin/env bash
# Builds Herald with its tests and runs the whole suite (unit and integration) through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
# The browser tests' own packages (playwright-core, no browser download), from the lockfile.
(cd test/browser && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
cmake -S . -B build/test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON >/dev/null
cmake --build build/test -j"$(nproc)"
cd build/test
ctest --output-on-failure -j2 "$@"
