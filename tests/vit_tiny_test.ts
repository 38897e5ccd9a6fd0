// Pretrained ViT-Tiny against golden outputs; needs ../shared (skipped with a message otherwise).
import assert from "node:assert/strict";
import { pipeline } from "../lib/pipeline.ts";
import { PriorError } from "../lib/merge/step.ts";
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
  name: "vit-tiny: SAD-TM does not borrow DeiT-Tiny's prior (same grid): a clear error",
  ignore: !HAS_VIT_TINY,
  async fn() {
    await assert.rejects(
      pipeline({ model: VIT_TINY, method: "sadtm", backend: "wasm" }),
      (e) =>
        e instanceof PriorError &&
        /sadtm needs a saliency prior for vit_tiny_patch16_224 \(grid 14x14\)/.test(e.message),
    );
  },
});
