// Pretrained ViT-Tiny against golden outputs; needs ../shared (skipped with a message otherwise).
import assert from "node:assert/strict";
import { loadModelConfig } from "../lib/checkpoint/bundle.ts";
import { priorFor } from "../lib/kv/priors.ts";
import { Classifier } from "../lib/runtime/classifier.ts";
import { assertGoldenDev48, goldenDev48, hasModel, VIT_TINY } from "./helpers/shared.ts";

const HAS_VIT_TINY = hasModel(VIT_TINY);

Deno.test({
  name: "vit-tiny: own decode + preprocess (mean/std 0.5, crop 0.9) agrees with the golden run",
  ignore: !HAS_VIT_TINY,
  async fn() {
    const c = await Classifier.load({ model: VIT_TINY, backend: "wasm" });
    assert.deepEqual(c.bundle.preprocess, {
      inputSize: 224,
      cropPct: 0.9,
      mean: [0.5, 0.5, 0.5],
      std: [0.5, 0.5, 0.5],
    });
    await assertGoldenDev48(c, await goldenDev48("vit_tiny"));
    await c.release();
  },
});

Deno.test({
  name: "vit-tiny: SAD-TM gets ViT-Tiny's own prior (shipped in priors/), not DeiT-Tiny's",
  ignore: !HAS_VIT_TINY,
  async fn() {
    const { config } = await loadModelConfig(VIT_TINY);
    const prior = await priorFor(config);
    assert.equal(prior?.model, "vit_tiny_patch16_224");
    assert.equal(prior?.suggestedTau, 1);
  },
});
