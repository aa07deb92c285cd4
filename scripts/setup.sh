#!/usr/bin/env bash
# Sets up everything Prefer's build and tests need on a fresh machine, idempotently, inside the repository
# (plus Debian packages when missing): Node 24 when the system's is older, npm dependencies, code-server
# (the real VS Code the tests drive) and Debian's Chromium. Sourcing it also leaves Node 24 on PATH.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

apt_missing=()
command -v chromium >/dev/null 2>&1 || [ -x "${PREFER_CHROMIUM:-/usr/bin/chromium}" ] || apt_missing+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || apt_missing+=(libkrb5-dev)
# the PyTorch reference the unit tier checks training against (test/reference/torch), with a threaded BLAS
for package in python3-torch python3-numpy libopenblas0-pthread; do dpkg -s "$package" >/dev/null 2>&1 || apt_missing+=("$package"); done
if [ ${#apt_missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${apt_missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" fonts-dejavu-core >/dev/null
  else
    echo "setup: please install these Debian packages first: sudo apt-get install ${apt_missing[*]}" >&2
    exit 1
  fi
fi

# shellcheck source=env.sh
source "$root/scripts/env.sh"
echo "setup: node $(node -v), npm $(npm -v)"

# npm ci only when the lockfile changed since the last install. Install scripts stay off: every native
# module Prefer uses ships prebuilt binaries, and onnxruntime-node's script would try to download CUDA.
stamp_ok() { [ -f "$1/.prefer-stamp" ] && [ "$(cat "$1/.prefer-stamp")" = "$(sha256sum "$2" | cut -d' ' -f1)" ]; }
write_stamp() { sha256sum "$2" | cut -d' ' -f1 >"$1/.prefer-stamp"; }

if ! stamp_ok node_modules package-lock.json; then
  echo "setup: npm ci"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  write_stamp node_modules package-lock.json
fi

# code-server builds a few native modules of its own (argon2, kerberos): its install scripts must run.
cs=tools/code-server
if ! stamp_ok "$cs/node_modules" "$cs/package-lock.json" 2>/dev/null; then
  echo "setup: installing code-server (a few minutes)"
  # Its native modules must build against the running Node's headers (~/.npmrc may name the system's).
  nodedir="$(dirname "$(dirname "$(command -v node)")")"
  [ -f "$nodedir/include/node/node.h" ] || nodedir=""
  (cd "$cs" && npm_config_nodedir="$nodedir" npm ci --foreground-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  write_stamp "$cs/node_modules" "$cs/package-lock.json"
fi
# llama.cpp's CPU build: the independent reference the engine's logits are tested against.
bash "$root/scripts/setup-reference.sh"
# Software Vulkan (Mesa 25 lavapipe) for the WebGPU test tier; idempotent.
bash "$root/scripts/setup-lavapipe.sh" >/dev/null
echo "setup: done"
