#!/usr/bin/env bash
# The main job: set-up (idempotent), build the CLI and its packages, size a candidate tree for this
# device (`hydra tune`: about ten seconds), then stream a story from the bundled stories260K model with
# its trained Hydra++ heads and print τ and tokens/s next to AR.
# Extra arguments go to `hydra generate` (e.g. --prompt "The dog" --max-new-tokens 64, or
# --tree cpu-16 for a fixed tree).
set -euo pipefail
cd "$(dirname "$0")/.."
HYDRA_SKIP_BROWSER=1 bash scripts/setup.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/hydra-xdg}"
pnpm -s turbo run build --filter=@hydra-ts/cli... --output-logs=errors-only >&2
tree="$(mktemp -d)/tuned-hydra-pp.json"
echo "tuning the candidate tree for this device (hydra tune) ..." >&2
node packages/cli/dist/bin.js tune --decoder hydra++ --out "$tree" | grep -E '^(chosen|plain AR)' >&2
exec node packages/cli/dist/bin.js generate \
  --decoder hydra++ --compare ar --tree "$tree" \
  --prompt "Once upon a time" --max-new-tokens 128 "$@"
