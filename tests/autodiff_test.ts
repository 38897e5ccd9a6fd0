import assert from "node:assert/strict";
import { createSession } from "../lib/backend/session.ts";
import { buildSaliencyGraph } from "../lib/saliency/graph.ts";
import { rng } from "../lib/checkpoint/random.ts";
import { randomPixels, randomWeights, referenceForward, tinyConfig } from "./helpers/tiny_vit.ts";

function crossEntropy(logits: Float64Array, label: number): number {
  const max = Math.max(...logits);
  const lse = max + Math.log(logits.reduce((a, v) => a + Math.exp(v - max), 0));
  return lse - logits[label];
}

for (const pool of ["token", "avg"] as const) {
  Deno.test(`autodiff (${pool} pool): input gradient equals float64 central differences (rel err <= 1e-3)`, async () => {
    const config = tinyConfig({ globalPool: pool, propAttn: pool === "token" });
    const weights = randomWeights(config, 11);
    const session = await createSession(buildSaliencyGraph({ config, weights }), {
      backend: "wasm",
    });
    const batch = 2, per = 3 * config.imgSize ** 2;
    const pixels = randomPixels(config, batch, 21);
    const labels = [3, -1];
    const out = await session.run({
      pixel_values: { data: pixels, dims: [batch, 3, config.imgSize, config.imgSize] },
      r: { data: new BigInt64Array(config.depth), dims: [config.depth] },
      labels: { data: BigInt64Array.from(labels, BigInt), dims: [batch] },
    });
    const grad = out.grad.data as Float32Array;
    assert.deepEqual(out.grad.dims, [batch, 3, config.imgSize, config.imgSize]);
    const next = rng(5);
    for (let b = 0; b < batch; b++) {
      const image = Float64Array.from(pixels.subarray(b * per, (b + 1) * per));
      const f = (x: Float64Array) => referenceForward(config, weights, Float32Array.from(x)).logits;
      const base = f(image);
      const label = labels[b] >= 0 ? labels[b] : base.indexOf(Math.max(...base));
      // Gradient norm scale for a relative error that is meaningful for small components.
      let scale = 0;
      for (let i = 0; i < per; i++) scale = Math.max(scale, Math.abs(grad[b * per + i]));
      let worst = 0;
      for (let t = 0; t < 12; t++) {
        const i = Math.floor(next() * per);
        const h = 1e-3;
        const up = Float64Array.from(image), down = Float64Array.from(image);
        up[i] += h;
        down[i] -= h;
        const fd = (crossEntropy(f(up), label) - crossEntropy(f(down), label)) / (2 * h);
        worst = Math.max(
          worst,
          Math.abs(grad[b * per + i] - fd) / Math.max(Math.abs(fd), 1e-2 * scale),
        );
      }
      console.log(`image ${b}: worst relative error ${worst.toExponential(2)}`);
      assert.ok(worst <= 1e-3, `image ${b}: ${worst}`);
    }
    assert.deepEqual(out.class_attention.dims, [batch, config.depth, 16]);
    await session.release();
  });
}
