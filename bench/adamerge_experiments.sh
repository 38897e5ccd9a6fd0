#!/usr/bin/env bash
# The AdaMerge experiments of docs/RESULTS.md: AdaMerge, and SAD-TM's criterion with adaptive
# counts ("sadtm-ada"), at matched mean GMACs on both image sets; theta is calibrated per target
# on the first 64 images of each set (labels unused). ToMe/PiToMe rows come from <set>.json.
# Usage: bash bench/adamerge_experiments.sh [SHARED_DIR] [adamerge|sadtm-ada ...]
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${1:-../shared}
shift || true
methods=${*:-adamerge sadtm-ada}
mkdir -p docs/results
for method in $methods; do
  for set in imagenet-val-dev imagenet-sample; do
    npx -y deno@2.9.6 run --allow-read --allow-env --allow-write lib/cli/eval.ts \
      --model "$shared/models/deit_tiny_patch16_224" --images "$shared/data/$set" \
      --methods "none,$method" --out "docs/results/$set-$method.json"
  done
done
