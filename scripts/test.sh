#!/usr/bin/env bash
# The test command: set-up (idempotent), build every package, run every test suite in Node and in
# headless Chromium, check the packed packages as a user installs them, then print one summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/hydra-xdg}"
export VITE_CONFIG_NATIVE_IGNORE_WARNING=true
rm -rf artifacts/test-results
mkdir -p artifacts/test-results
pnpm -s build
status=0
pnpm -s test || status=$?
# The packages as installed from npm: packed, installed into a fresh project, type-checked, run, bundled.
node scripts/packaging-test.mjs || status=1
node scripts/test-summary.mjs artifacts/test-results || status=1
exit $status
