#!/usr/bin/env bash
# Installs the Debian 12 packages Herald needs, if any is missing: to build it, or with
# --test also what the test suite uses (nginx for the proxy test, chromium for the browser
# tests; Node.js and npm come with the machine, Debian's are the fallback).
set -euo pipefail
packages=(cmake make g++ libasio-dev nlohmann-json3-dev libspdlog-dev doctest-dev node-llhttp)
if [ "${1:-}" = "--test" ]; then
  packages+=(python3 curl nginx-light chromium)
  command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
fi
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
