#!/usr/bin/env bash
# Gets a fresh Debian 12 machine (Node 20, root, no GPU) ready to build, test and run hydra-ts:
# pnpm, the workspace's dependencies, a software Vulkan driver when Dawn finds no WebGPU adapter,
# and Chromium for the browser tests. Skips whatever is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/hydra-xdg}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

PNPM_VERSION=12.21.0
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm $PNPM_VERSION" >&2
  npm install -g --silent "pnpm@$PNPM_VERSION" >/dev/null 2>&1 || npm install -g "pnpm@$PNPM_VERSION"
fi

if [ ! -d node_modules/.pnpm ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ]; then
  echo "setup: pnpm install" >&2
  pnpm install --frozen-lockfile --reporter=append-only 2>&1 | tail -3
fi

# Dawn needs a Vulkan driver; on a machine without a GPU that is Mesa's lavapipe.
if ! node scripts/probe-webgpu.mjs >/dev/null 2>&1; then
  bash scripts/setup-system.sh --vulkan
  node scripts/probe-webgpu.mjs >&2
fi
if [ "${HYDRA_SKIP_BROWSER:-0}" != "1" ] && [ ! -x /usr/bin/chromium ]; then
  bash scripts/setup-system.sh --chromium
fi
