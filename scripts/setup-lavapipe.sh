#!/usr/bin/env bash
# Software Vulkan for the WebGPU test tier: ONNX Runtime's WebGPU provider (Dawn) rejects Debian 12's Mesa 22
# lavapipe, but accepts Mesa 25's from bookworm-backports. Its two packages are downloaded and unpacked into
# .cache/lavapipe without adding an apt source to the system. Prints the folder on success.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.cache/lavapipe"
icd="$dest/root/usr/share/vulkan/icd.d/lvp_icd.json"
if [ -f "$icd" ]; then echo "$dest"; exit 0; fi

if ! dpkg -s libvulkan1 mesa-vulkan-drivers >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { echo "setup-lavapipe: needs root to apt-get install libvulkan1 mesa-vulkan-drivers" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libvulkan1 mesa-vulkan-drivers >/dev/null
fi

# The backports suite on the same mirror the system uses.
mirror=$(grep -hoE '^(URIs:|deb) +[^ ]+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
  | grep -v security | head -1 | awk "{print \$2}" || true)
[ -n "$mirror" ] || { echo "setup-lavapipe: no Debian mirror found in /etc/apt" >&2; exit 1; }
work="$dest/apt"
mkdir -p "$work/lists/partial" "$work/debs"
echo "deb $mirror bookworm-backports main" >"$work/sources.list"
o=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$work/lists"
   -o "Dir::Cache::Archives=$work/debs" -o Debug::NoLocking=1)
apt-get "${o[@]}" update -qq >/dev/null
(cd "$work/debs" && apt-get "${o[@]}" download mesa-vulkan-drivers/bookworm-backports libdrm2/bookworm-backports >/dev/null)
mkdir -p "$dest/root"
for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$dest/root"; done
[ -f "$icd" ] || { echo "setup-lavapipe: $icd missing after unpacking" >&2; exit 1; }
echo "$dest"
