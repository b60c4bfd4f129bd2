#!/usr/bin/env bash
# Installs the system packages hydra-ts needs on a Debian 12 machine without a GPU:
# a software Vulkan driver Dawn accepts (Mesa lavapipe from bookworm-backports) and Chromium
# for the browser tests. Skips whatever is already present. Safe to run repeatedly.
set -euo pipefail

need_apt=()
have_lavapipe() { ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 && dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -q -E '^(2[3-9]|[3-9][0-9])\.'; }
have_chromium() { command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; }

if have_lavapipe && have_chromium; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup-system: need root (or sudo) to install mesa-vulkan-drivers and chromium" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive

if ! have_lavapipe; then
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "setup-system: adding bookworm-backports to apt sources" >&2
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      | $SUDO tee /etc/apt/sources.list.d/backports.sources >/dev/null
  fi
fi

echo "setup-system: apt-get update" >&2
$SUDO apt-get update -qq
if ! have_lavapipe; then
  echo "setup-system: installing Mesa lavapipe (software Vulkan) from bookworm-backports" >&2
  $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
fi
if ! have_chromium; then
  echo "setup-system: installing chromium" >&2
  $SUDO apt-get install -y -qq chromium >/dev/null
fi
