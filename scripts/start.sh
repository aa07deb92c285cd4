#!/usr/bin/env bash
# Sets up Prefer and starts it: code-server (VS Code in the browser) with the freshly packaged extension
# installed, opened on a sample workspace. Prints the URL; stop with Ctrl+C.
# PORT (default 8080) and PREFER_WORKSPACE (default: a copy of examples/sample-workspace) can be set.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
source "$root/scripts/env.sh"
cd "$root"
npm run --silent package >/dev/null
exec node scripts/start.ts
