import assert from "node:assert/strict";
import { Classifier } from "../lib/runtime/classifier.ts";
import { calibrateTheta, costAt } from "../lib/eval/calibrate.ts";
import { adamerge } from "../lib/merge/adamerge.ts";
import { METHODS } from "../lib/merge/methods.ts";
import { scheduleForReduction } from "../lib/merge/schedule.ts";
import type { MethodOptions } from "../lib/merge/step.ts";
import type { ModelBundle } from "../lib/checkpoint/bundle.ts";
import { adamergeRef, applyRef } from "./helpers/merge_reference.ts";
import { maxAbsDiff, randomPixels, referenceForward } from "./helpers/tiny_vit.ts";
import { ownResolution, tinySession, tinyVit } from "./helpers/fixtures.ts";

const { config, weights } = tinyVit();
const R_MAX = [24, 24, 24, 24];
const per = 3 * config.imgSize ** 2;

/** AdaMerge's knobs other than theta: the salience damping and its share of the weights. */
interface Knobs {
  gamma: number;
  salienceWeight: number;
}
const PAPER: Knobs = { gamma: 0.5, salienceWeight: 1 };
const scalar = (v: number) => ({ data: new Float32Array([v]), dims: [1] });

async function run(pixels: Float32Array, batch: number, theta: number, knobs = PAPER) {
  const session = await tinySession(config, weights, { method: adamerge, sources: true });
  const out = await session.run({
    pixel_values: { data: pixels, dims: [batch, 3, 32, 32] },
    r: { data: BigInt64Array.from(R_MAX, BigInt), dims: [4] },
    ...ownResolution(config),
    theta: scalar(theta),
    gamma: scalar(knobs.gamma),
    salience_weight: scalar(knobs.salienceWeight),
  });
  await session.release();
  return out;
}

/** Reference run of one image with merges fixed to `rs` (and the count it wants at `probe`). */
function reference(image: Float32Array, rs: number[], theta: number, probe = -1, knobs = PAPER) {
  let wanted = 0;
  const out = referenceForward(config, weights, image, {
    afterAttention: (block, x, size, keys) => {
      const step = adamergeRef(keys, config.prefixTokens, theta, knobs.gamma, knobs.salienceWeight);
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

Deno.test("adamerge: without damping and salience weights it is ToMe with an adaptive count, as the reference", async () => {
  const image = randomPixels(config, 1, 5);
  const knobs = { gamma: 0, salienceWeight: 0 };
  const rs: number[] = [];
  for (let l = 0; l < config.depth; l++) {
    rs.push(Math.min(R_MAX[l], reference(image, rs, 0.8, l, knobs).wanted));
  }
  const ref = reference(image, rs, 0.8, -1, knobs);
  const paper = reference(image, rs, 0.8, -1, PAPER);
  assert.ok(maxAbsDiff(ref.logits, paper.logits) > 1e-4, "the knobs should change the merge");
  const out = await run(Float32Array.from(image), 1, 0.8, knobs);
  assert.deepEqual(Array.from(out.tokens.data as BigInt64Array, Number), ref.tokens);
  assert.ok(maxAbsDiff(out.logits.data as Float32Array, ref.logits) < 1e-3);
});

Deno.test("adamerge: theta = +inf is an exact no-op", async () => {
  const pixels = randomPixels(config, 2, 17);
  const merged = await run(pixels, 2, Infinity);
  const session = await tinySession(config, weights);
  const plain = await session.run({
    pixel_values: { data: pixels, dims: [2, 3, 32, 32] },
    r: { data: new BigInt64Array(4), dims: [4] },
  });
  assert.deepEqual(merged.logits.data, plain.logits.data);
  assert.deepEqual(Array.from(merged.tokens.data as BigInt64Array, Number), [65, 65, 65, 65, 65]);
});

Deno.test("adamerge: calibration is monotone and meets the target mean reduction", async () => {
  const c = await Classifier.fromBundle({
    config,
    weights,
    dir: "",
    preprocess: { inputSize: 32, cropPct: 1, mean: [0, 0, 0], std: [1, 1, 1] },
    labels: [],
    descriptions: [],
  }, { backend: "wasm", method: adamerge });
  const pixels = randomPixels(config, 6, 23);
  const inputs = Array.from({ length: 6 }, (_, i) => pixels.slice(i * per, (i + 1) * per));
  const full = (await c.run([inputs[0]], [0, 0, 0, 0], {
    theta: { data: new Float32Array([Infinity]), dims: [1] },
  }))[0].gmacs;
  let previous = 0;
  for (const theta of [-1, 0, 0.5, 0.7, 0.8, 0.9, 1.01]) {
    const costs = await costAt(c, inputs, R_MAX, theta);
    const mean = costs.reduce((a, b) => a + b) / costs.length;
    assert.ok(mean >= previous - 1e-12, `theta ${theta}: mean GMACs ${mean} < ${previous}`);
    previous = mean;
  }
  assert.ok(Math.abs(previous - full) < 1e-12, "theta above every score merges nothing");
  const found = await calibrateTheta(c, inputs, R_MAX, 0.25, full);
  assert.ok(
    Math.abs(1 - found.meanGmacs / full - 0.25) < 0.03,
    `reduction ${1 - found.meanGmacs / full}`,
  );
  for (let i = 1; i < found.curve.length; i++) {
    assert.ok(found.curve[i][1] >= found.curve[i - 1][1] - 1e-12);
  }
  // The ceiling r_max is the schedule of `ceiling` times the target (1.5 by default).
  assert.deepEqual(c.scheduleFor(0.2), scheduleForReduction(config, adamerge, 0.3));
  assert.deepEqual(c.scheduleFor(0.2, { ceiling: 2 }), scheduleForReduction(config, adamerge, 0.4));
  // Answers are kept per target and family: asked again, the same; changing one changes nothing.
  const again = c.scheduleFor(0.2);
  again[0] += 7;
  assert.deepEqual(c.scheduleFor(0.2), scheduleForReduction(config, adamerge, 0.3));
  assert.deepEqual(
    c.scheduleFor(0.2, { kind: "linear" }),
    scheduleForReduction(config, adamerge, 0.3, { kind: "linear" }),
  );
  await c.release();
});

Deno.test("sadtm-ada: theta = -inf is SAD-TM-DM at r_max, theta = +inf is the unmerged model", async () => {
  const pixels = randomPixels(config, 2, 29);
  const prior = Float32Array.from({ length: 64 }, (_, i) => Math.cos(i));
  const sadtmFeeds = {
    prior: { data: prior, dims: [64] },
    alpha: { data: new Float32Array([0.5]), dims: [1] },
    importance_weight: { data: new Float32Array([1]), dims: [1] },
  };
  const runWith = async (name: string, theta: number, r = [0, 5, 9, 7]) => {
    const session = await tinySession(config, weights, { method: METHODS[name] });
    const out = await session.run({
      pixel_values: { data: pixels, dims: [2, 3, 32, 32] },
      r: { data: BigInt64Array.from(r, BigInt), dims: [4] },
      ...ownResolution(config),
      ...sadtmFeeds,
      ...(METHODS[name].adaptive && { theta: { data: new Float32Array([theta]), dims: [1] } }),
    });
    await session.release();
    return out;
  };
  const all = await runWith("sadtm-ada", -10);
  const fixed = await runWith("sadtm-dm", 0);
  assert.deepEqual(all.tokens.data, fixed.tokens.data);
  assert.ok(maxAbsDiff(all.logits.data as Float32Array, fixed.logits.data as Float32Array) < 1e-5);
  const none = await runWith("sadtm-ada", Infinity);
  const zero = await runWith("sadtm-dm", 0, [0, 0, 0, 0]);
  assert.deepEqual(none.logits.data, zero.logits.data);
});

Deno.test("adamerge: the model's settings (stored with its prior) replace the defaults; options win", async () => {
  const bundle: ModelBundle = {
    config,
    weights,
    dir: "",
    preprocess: { inputSize: 32, cropPct: 1, mean: [0, 0, 0], std: [1, 1, 1] },
    labels: [],
    descriptions: [],
  };
  const prior = {
    model: config.name,
    grid: [8, 8] as [number, number],
    vector: Array(64).fill(0),
    suggestedTau: 0,
    settings: { adamerge: { gamma: 0, salienceWeight: 0 } },
  };
  const image = randomPixels(config, 1, 5);
  const logits = async (options: MethodOptions) => {
    const c = await Classifier.fromBundle(bundle, {
      backend: "wasm",
      method: adamerge,
      ...options,
    });
    const [out] = await c.run([image], R_MAX, { theta: scalar(0.8) });
    await c.release();
    return out.logits;
  };
  const fromSettings = await logits({ prior });
  assert.deepEqual(fromSettings, await logits({ gamma: 0, salienceWeight: 0 }));
  assert.notDeepEqual(fromSettings, await logits({}), "the settings should matter");
  assert.deepEqual(await logits({ prior, gamma: 0.5, salienceWeight: 1 }), await logits({}));
});
