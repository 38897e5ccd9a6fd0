#!/usr/bin/env bash
# The two-model study of docs/RESULTS.md (section 4): every method at ~23/33/45 % on DeiT-Tiny and
# ViT-Tiny, on both image sets, paired (one eval run per model and set); the deeper points the
# operating-points tables use; SAD-TM's alpha, sign and delay sweeps on ViT-Tiny; the cross-model
# prior in both directions; and the AdaMerge ablation on both models.
# Usage: bash bench/two_models.sh [SHARED_DIR] [PART...]
#   PART: compare sadtm cross adamerge (default: all). Writes docs/results/<model>/*.json, *.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${1:-../shared}
shift || true
parts=${*:-compare sadtm cross adamerge}
models=(deit_tiny_patch16_224 vit_tiny_patch16_224)
sets=(imagenet-val-dev imagenet-sample)
dev=$shared/data/imagenet-val-dev
all=none,tome,evit,pitome,sadtm,sadtm-dm,adamerge
# Native where the binding loads (identical top-1 to WASM on the golden images, much faster).
eval_() {
  local model=$1
  shift
  npx -y deno@2.9.6 run --allow-read --allow-env --allow-write --allow-ffi lib/cli/eval.ts \
    --model "$shared/models/$model" "$@"
}
# The delay the prior's curve suggests (not a model's tuned setting).
tau_of() { python3 -c "import json;print(json.load(open('priors/$1.json'))['suggestedTau'])"; }

for part in $parts; do
  case $part in
  compare)
    for model in "${models[@]}"; do
      out=docs/results/$model
      mkdir -p "$out"
      for set in "${sets[@]}"; do
        # The same settings on both models (each model's own are in the per-model runs below).
        eval_ "$model" --images "$shared/data/$set" --methods "$all" --alpha 1 --prior-sign=-1 \
          --tau "$(tau_of "$model")" --gamma 0.5 --out "$out/$set.json" --plot "$out/$set.svg"
        # Deeper points for tight budgets (the operating-points table).
        eval_ "$model" --images "$shared/data/$set" --methods none,tome,pitome,sadtm-dm \
          --reductions 0.55,0.65 --alpha 1 --tau "$(tau_of "$model")" --out "$out/$set-deep.json"
      done
    done
    ;;
  sadtm)
    # ViT-Tiny (DeiT-Tiny's are in bench/sadtm_experiments.sh): its prior was computed on
    # imagenet-sample, so the sweeps run on the held-out imagenet-val-dev.
    model=vit_tiny_patch16_224
    out=docs/results/$model
    mkdir -p "$out"
    tau=$(tau_of $model)
    for sign in 1 -1; do
      eval_ $model --images "$dev" --methods none,sadtm,sadtm-dm --alpha 0.5 --prior-sign=$sign \
        --tau "$tau" --out "$out/sadtm-alpha0.5-sign$sign.json"
      for alpha in 0 0.25 0.75; do
        eval_ $model --images "$dev" --methods none,sadtm,sadtm-dm --alpha $alpha --prior-sign=$sign \
          --tau "$tau" --reductions 0.33 --out "$out/sadtm-alpha$alpha-sign$sign.json"
      done
    done
    for tau in 0 1 2 3 4; do
      eval_ $model --images "$dev" --methods none,sadtm-dm --alpha 1 --tau $tau --reductions 0.33 \
        --out "$out/sadtm-tau$tau.json"
    done
    # The delays that won at 33 %, at every cost and on both sets.
    for set in "${sets[@]}"; do
      for tau in 2 3; do
        eval_ $model --images "$shared/data/$set" --methods none,sadtm-dm --tau $tau \
          --out "$out/$set-sadtm-dm-tau$tau.json"
      done
    done
    # Plain SAD-TM with the reversed prior at alpha 0.5 (the sweep's best), on both models and sets.
    for m in "${models[@]}"; do
      for set in "${sets[@]}"; do
        eval_ "$m" --images "$shared/data/$set" --methods none,sadtm --alpha 0.5 --prior-sign=-1 \
          --out "docs/results/$m/$set-sadtm-alpha0.5-sign-1.json"
      done
    done
    ;;
  cross)
    # One model's prior driving the other, at alpha 0.5 (the prior counts) and both signs; tau is
    # the model being run's own suggestion (tau belongs to the model, not to the prior).
    for model in "${models[@]}"; do
      out=docs/results/$model
      mkdir -p "$out"
      for other in "${models[@]}"; do
        for sign in 1 -1; do
          eval_ "$model" --images "$dev" --methods none,sadtm,sadtm-dm --alpha 0.5 --prior-sign=$sign \
            --tau "$(tau_of "$model")" --prior "priors/$other.json" \
            --out "$out/prior-$other-sign$sign.json"
        done
      done
    done
    ;;
  adamerge)
    # Which part of AdaMerge costs accuracy: the adaptive count alone (gamma 0, size weights),
    # then the salience damping, then the salience weights; and the ceiling r_max.
    for model in "${models[@]}"; do
      out=docs/results/$model
      mkdir -p "$out"
      for variant in "0 0 1.5" "0.5 0 1.5" "0 1 1.5" "0.5 1 1.25" "0.5 1 2"; do
        read -r gamma sw ceiling <<<"$variant"
        eval_ "$model" --images "$dev" --methods none,adamerge --reductions 0.23,0.33,0.45 \
          --gamma "$gamma" --salience-weight "$sw" --ceiling "$ceiling" \
          --out "$out/adamerge-g$gamma-w$sw-c$ceiling.json"
      done
      eval_ "$model" --images "$dev" --methods none,adamerge --calibration-images 256 \
        --gamma 0.5 --out "$out/adamerge-cal256.json"
    done
    # ViT-Tiny's own setting (no damping, from the ablation) on both sets.
    for set in "${sets[@]}"; do
      eval_ vit_tiny_patch16_224 --images "$shared/data/$set" --methods none,adamerge --gamma 0 \
        --out "docs/results/vit_tiny_patch16_224/$set-adamerge-g0.json"
    done
    ;;
  *)
    echo "unknown part $part (compare sadtm cross adamerge)" >&2
    exit 2
    ;;
  esac
done
