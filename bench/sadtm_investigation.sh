#!/usr/bin/env bash
# Why SAD-TM as specified trails ToMe on DeiT-Tiny (docs/RESULTS.md): the same evaluation with
# the prior's sign reversed and with size-only merge weights, on imagenet-val-dev.
# Usage: bash bench/sadtm_investigation.sh [SHARED_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${1:-../shared}
out=docs/results
eval_() {
  npx -y deno@2.9.6 run --allow-read --allow-env --allow-write lib/cli/eval.ts \
    --model "$shared/models/deit_tiny_patch16_224" --images "$shared/data/imagenet-val-dev" "$@"
}
for iw in 1 0; do
  eval_ --methods none,sadtm,sadtm-dm --prior-sign=-1 --importance-weight "$iw" --out "$out/investigation-sign-1-iw$iw.json"
done
eval_ --methods none,sadtm-dm --alpha 1 --importance-weight 0 --out "$out/investigation-alpha1-iw0.json"
for alpha in 0 0.25 0.75; do
  eval_ --methods none,sadtm-dm --prior-sign=-1 --importance-weight 0 --alpha "$alpha" --reductions 0.33 \
    --out "$out/investigation-sign-1-iw0-alpha$alpha.json"
done
