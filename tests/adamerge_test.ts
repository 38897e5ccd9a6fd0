import assert from "node:assert/strict";
import { createSession } from "../lib/backend/session.ts";
import { adamerge } from "../lib/merge/adamerge.ts";
import { buildViTGraph } from "../lib/vit/graph.ts";
import { adamergeRef, applyRef } from "./helpers/merge_reference.ts";
import {
  maxAbsDiff,
  randomPixels,
  randomWeights,
  referenceForward,
  tinyConfig,
} from "./helpers/tiny_vit.ts";

const config = tinyConfig({ patchSize: 4, depth: 4 });
const weights = randomWeights(config, 3);
const R_MAX = [24, 24, 24, 24];
const per = 3 * config.imgSize ** 2;

async function run(pixels: Float32Array, batch: number, theta: number, method = adamerge) {
  const session = await createSession(buildViTGraph({ config, weights }, method), {
    backend: "wasm",
  });
  const out = await session.run({
    pixel_values: { data: pixels, dims: [batch, 3, 32, 32] },
    r: { data: BigInt64Array.from(R_MAX, BigInt), dims: [4] },
    theta: { data: new Float32Array([theta]), dims: [1] },
  });
  await session.release();
  return out;
}

/** Reference run of one image with merges fixed to `rs` (and the count it wants at `probe`). */
function reference(image: Float32Array, rs: number[], theta: number, probe = -1) {
  let wanted = 0;
  const out = referenceForward(config, weights, image, {
    afterAttention: (block, x, size, keys) => {
      const step = adamergeRef(keys, config.prefixTokens, theta);
      if (block === probe) wanted = step.count;
      if (block >= rs.length) return undefined;
      return applyRef(x, size, step.plan(rs[block]));
    },
  });
  return { ...out, wanted };
}

/** The batch's r per block: block by block, the smallest count any image asks for. */
function batchSchedule(images: Float32Array[], theta: number): number[] {
  const rs: number[] = [];
  for (let l = 0; l < config.depth; l++) {
    const wants = images.map((im) => reference(im, rs, theta, l).wanted);
    rs.push(Math.min(R_MAX[l], ...wants));
  }
  return rs;
}

Deno.test("adamerge: images of one batch choose different r; the batch merges the fewest, as the reference", async () => {
  const pixels = randomPixels(config, 2, 13);
  const images = [pixels.subarray(0, per), pixels.subarray(per)];
  const theta = 0.8;
  const own = images.map((im) => batchSchedule([im], theta));
  assert.notDeepEqual(own[0], own[1], "the two images should want different r");
  const together = batchSchedule(images, theta);
  const out = await run(pixels, 2, theta);
  const tokens = Array.from(out.tokens.data as BigInt64Array, Number);
  assert.deepEqual(tokens, reference(images[0], together, theta).tokens);
  images.forEach((im, b) => {
    const ref = reference(im, together, theta);
    const got = (out.logits.data as Float32Array).subarray(b * 10, (b + 1) * 10);
    assert.ok(maxAbsDiff(got, ref.logits) < 1e-3, `image ${b}: ${maxAbsDiff(got, ref.logits)}`);
  });
  // At batch 1 each image follows its own choice.
  for (const [b, im] of images.entries()) {
    const alone = await run(Float32Array.from(im), 1, theta);
    assert.deepEqual(
      Array.from(alone.tokens.data as BigInt64Array, Number),
      reference(im, own[b], theta).tokens,
    );
    const ref = reference(im, own[b], theta);
    assert.ok(maxAbsDiff(alone.logits.data as Float32Array, ref.logits) < 1e-3);
  }
});

Deno.test("adamerge: theta = +inf is an exact no-op", async () => {
  const pixels = randomPixels(config, 2, 17);
  const merged = await run(pixels, 2, Infinity);
  const session = await createSession(buildViTGraph({ config, weights }), { backend: "wasm" });
  const plain = await session.run({
    pixel_values: { data: pixels, dims: [2, 3, 32, 32] },
    r: { data: new BigInt64Array(4), dims: [4] },
  });
  assert.deepEqual(merged.logits.data, plain.logits.data);
  assert.deepEqual(Array.from(merged.tokens.data as BigInt64Array, Number), [65, 65, 65, 65, 65]);
});
