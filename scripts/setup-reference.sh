#!/usr/bin/env bash
# Installs llama.cpp's CPU build (node-llama-cpp + @node-llama-cpp/linux-x64 only) into tools/llama-reference,
# the independent reference the engine's logits are checked against. Idempotent (reinstalls only when the
# lockfile changed); needs only the npm registry. The CUDA/Vulkan optional packages (~600 MB) are never
# fetched, and node-llama-cpp's postinstall (which may try to download or build llama.cpp) is not run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
prefix="$root/tools/llama-reference"
addon="$prefix/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/llama-addon.node"
stamp="$prefix/node_modules/.prefer-stamp"
lock_hash="$(sha256sum "$prefix/package-lock.json" | cut -d' ' -f1)"
if [ -f "$addon" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_hash" ]; then
  echo "llama.cpp reference: already installed in $prefix"
  exit 0
fi
cd "$prefix"
# `npm install` with the committed lockfile rather than `npm ci`: npm leaves other platforms' optional
# packages out of the lock and `npm ci` then refuses it; install follows the lock and leaves it unchanged.
NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error
if [ ! -f "$addon" ]; then
  echo "llama.cpp reference: @node-llama-cpp/linux-x64 did not install (this machine: $(uname -sm))" >&2
  exit 1
fi
echo "$lock_hash" >"$stamp"
echo "llama.cpp reference: installed in $prefix ($(du -sh node_modules | cut -f1))"
