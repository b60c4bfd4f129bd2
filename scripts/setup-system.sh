#!/usr/bin/env bash
# System packages for hydra-ts on Debian 12 without a GPU:
#   --vulkan    Mesa lavapipe (software Vulkan) from bookworm-backports; bookworm's own Mesa 22 is too
#               old for Dawn ("shaderUniform*ArrayDynamicIndexing required").
#   --chromium  Debian's Chromium, for the browser tests and the demo's end-to-end test.
# With no flag, both. Skips what is already installed.
set -euo pipefail

want_vulkan=0; want_chromium=0
[ $# -eq 0 ] && { want_vulkan=1; want_chromium=1; }
for a in "$@"; do
  case "$a" in
    --vulkan) want_vulkan=1 ;;
    --chromium) want_chromium=1 ;;
    *) echo "setup-system: unknown option $a (expected --vulkan or --chromium)" >&2; exit 2 ;;
  esac
done

have_lavapipe() {
  ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 &&
    dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -q -E '^(2[3-9]|[3-9][0-9])\.'
}
have_chromium() { [ -x /usr/bin/chromium ]; }

[ $want_vulkan = 1 ] && have_lavapipe && want_vulkan=0
[ $want_chromium = 1 ] && have_chromium && want_chromium=0
[ $want_vulkan = 0 ] && [ $want_chromium = 0 ] && exit 0

SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup-system: root (or sudo) is needed to install system packages" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive

if [ $want_vulkan = 1 ] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "setup-system: adding bookworm-backports to apt sources" >&2
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
    $SUDO tee /etc/apt/sources.list.d/hydra-backports.sources >/dev/null
fi
echo "setup-system: apt-get update" >&2
$SUDO apt-get update -qq
if [ $want_vulkan = 1 ]; then
  echo "setup-system: installing Mesa lavapipe (software Vulkan) from bookworm-backports" >&2
  $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
fi
if [ $want_chromium = 1 ]; then
  echo "setup-system: installing chromium" >&2
  $SUDO apt-get install -y -qq chromium >/dev/null
fi
