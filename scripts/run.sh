#!/usr/bin/env bash
# Builds Herald (Release) and starts it; extra arguments go to herald (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build/release -j"$(nproc)" --target herald
exec build/release/herald "$@"
