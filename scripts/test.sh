#!/usr/bin/env bash
# Sets up a fresh machine and runs every test tier (unit, integration in VS Code, end-to-end in a browser).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
source "$root/scripts/env.sh"
cd "$root"
npm test
