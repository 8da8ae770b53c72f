#!/usr/bin/env bash
# Installs the Debian 12 packages Herald builds and tests with, if any is missing.
set -euo pipefail
packages=(cmake make g++ pkg-config libasio-dev nlohmann-json3-dev libspdlog-dev doctest-dev node-llhttp python3 curl nginx-light)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
