#!/usr/bin/env bash
# Builds Herald (Release) and starts it; extra arguments go to herald (try --help). Herald runs
# in the directory you called this from, so relative paths (--config, --tls-cert) mean what
# they say.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
(
  cd "$repo"
  scripts/install-deps.sh
  cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
  cmake --build build/release -j"$(nproc)" --target herald
)
exec "$repo/build/release/herald" "$@"
