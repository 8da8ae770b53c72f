#!/usr/bin/env bash
# Installs the Debian 12 packages Herald needs, if any is missing: to build it, or with
# --test also what the test suite uses (nginx, caddy and haproxy for the proxy tests, chromium
# for the browser tests; Node.js and npm come with the machine, Debian's are the fallback).
set -euo pipefail
packages=(cmake make g++ libasio-dev nlohmann-json3-dev libspdlog-dev doctest-dev node-llhttp libssl-dev)
if [ "${1:-}" = "--test" ]; then
  packages+=(python3 curl openssl nginx-light caddy haproxy chromium)
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
  # The tests run nginx, caddy and haproxy themselves; don't leave the services the packages
  # enable holding ports 80/443 (no-ops where there is no systemd or init script).
  for svc in nginx caddy haproxy; do
    pkg=$svc; [ "$svc" = nginx ] && pkg=nginx-light
    [[ " ${missing[*]} " == *" $pkg "* ]] || continue
    if [ -d /run/systemd/system ]; then
      $sudo_cmd systemctl disable --now "$svc.service" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$svc" ]; then
      $sudo_cmd "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
      $sudo_cmd update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
  done
fi
