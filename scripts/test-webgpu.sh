#!/usr/bin/env bash
# Runs the WebGPU tier under Mesa 25 lavapipe (software Vulkan), set up by scripts/setup-lavapipe.sh.
# Fails loudly when lavapipe cannot be set up: the tier is never skipped silently.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
if ! lvp="$(bash "$root/scripts/setup-lavapipe.sh")"; then
  echo "WEBGPU TIER CANNOT RUN: Mesa 25 lavapipe could not be set up (see the message above)" >&2
  exit 1
fi
export VK_ICD_FILENAMES="$lvp/root/usr/share/vulkan/icd.d/lvp_icd.json"
export LD_LIBRARY_PATH="$lvp/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export XDG_RUNTIME_DIR="$root/.cache/lavapipe/xdg-runtime"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
cd "$root"
exec node --test "$@" 'test/webgpu/**/*.test.ts'
