/**
 * Runs at a lower resolution: the image and the position embedding resampled in the graph, the
 * token counts, GMACs and schedules of such runs, and what the budget makes of their points.
 */
import assert from "node:assert/strict";
import {
  atResolution,
  lowerResolutions,
  ResolutionError,
  tokenCount,
} from "../lib/checkpoint/config.ts";
import type { ModelBundle } from "../lib/checkpoint/bundle.ts";
import { resamplePosEmbed } from "../lib/checkpoint/pos_embed.ts";
import { gmacs } from "../lib/merge/cost.ts";
import {
  resolutionReduction,
  scheduleForReduction,
  tokensPerBlock,
  unmergedGmacs,
} from "../lib/merge/schedule.ts";
import { tome } from "../lib/merge/tome.ts";
import { AccuracyModel } from "../lib/budget/accuracy.ts";
import { Classifier } from "../lib/runtime/classifier.ts";
import { CPU_BACKENDS } from "./helpers/fixtures.ts";
import { maxAbsDiff, randomPixels, randomWeights, tinyConfig } from "./helpers/tiny_vit.ts";

/** 48-pixel images in 8-pixel patches: a 6 x 6 grid, so 32 and 40 pixels are lower resolutions. */
const config = tinyConfig({ imgSize: 48, patchSize: 8, depth: 4 });

function bundleOf(c: typeof config, weights = randomWeights(config, 11)): ModelBundle {
  return {
    dir: "",
    config: c,
    preprocess: { inputSize: c.imgSize, cropPct: 0.875, mean: [0, 0, 0], std: [1, 1, 1] },
    labels: Array.from({ length: c.numClasses }, (_, i) => `${i}`),
    descriptions: Array.from({ length: c.numClasses }, (_, i) => `class ${i}`),
    weights,
  };
}

/** ONNX Resize, linear, half-pixel centres, edges clamped: `[3, n, n]` to `[3, m, m]`. */
function bilinearRef(x: Float32Array, n: number, m: number): Float32Array {
  const taps = Array.from({ length: m }, (_, o) => {
    const at = Math.min(n - 1, Math.max(0, (o + 0.5) * (n / m) - 0.5));
    const lo = Math.floor(at);
    return { lo, hi: Math.min(n - 1, lo + 1), w: at - lo };
  });
  const out = new Float32Array(3 * m * m);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < m; y++) {
      for (let xo = 0; xo < m; xo++) {
        const ty = taps[y], tx = taps[xo];
        const v = (r: number, col: number) => x[c * n * n + r * n + col];
        const top = v(ty.lo, tx.lo) * (1 - tx.w) + v(ty.lo, tx.hi) * tx.w;
        const bottom = v(ty.hi, tx.lo) * (1 - tx.w) + v(ty.hi, tx.hi) * tx.w;
        out[c * m * m + y * m + xo] = top * (1 - ty.w) + bottom * ty.w;
      }
    }
  }
  return out;
}

Deno.test("resolution: which a model runs at, and the config of a run there", () => {
  assert.deepEqual(lowerResolutions(config), [32, 40]);
  assert.equal(atResolution(config, 48), config);
  const at = atResolution(config, 32);
  assert.equal(tokenCount(at), 17);
  assert.equal(at.embedDim, config.embedDim);
  for (const bad of [56, 36, 24, 33.5]) {
    assert.throws(() => atResolution(config, bad), ResolutionError, `${bad}`);
  }
  assert.throws(() => atResolution(config, 56), /multiples of 8 from 32 to 48 pixels/);
});

Deno.test("resolution: the resampled position embedding keeps the prefix, a constant, the grid", () => {
  const shape = { prefix: 1, grid: 6, width: 3 };
  const table = Float32Array.from({ length: 37 * 3 }, (_, i) => i % 3 === 0 ? 2.5 : i);
  const same = resamplePosEmbed(table, shape, 6);
  assert.ok(maxAbsDiff(same, table) < 1e-6, "the own grid is unchanged");
  const small = resamplePosEmbed(table, shape, 4);
  assert.equal(small.length, 17 * 3);
  assert.deepEqual([...small.slice(0, 3)], [...table.slice(0, 3)]);
  // The first channel is 2.5 everywhere: resampling keeps it (the weights sum to 1).
  for (let t = 1; t < 17; t++) assert.ok(Math.abs(small[3 * t] - 2.5) < 1e-5, `token ${t}`);
});

Deno.test("resolution: a schedule's target is a reduction of the whole model", () => {
  const cut = resolutionReduction(config, 32);
  assert.ok(
    Math.abs(cut - (1 - unmergedGmacs(atResolution(config, 32)) / unmergedGmacs(config))) < 1e-12,
  );
  const target = cut + (1 - cut) * 0.3;
  const schedule = scheduleForReduction(config, tome, target, { resolution: 32 });
  const at = atResolution(config, 32);
  const reduction = 1 - gmacs(at, tokensPerBlock(at, tome, schedule)) / unmergedGmacs(config);
  assert.ok(schedule.some((r) => r > 0), `${schedule}`);
  assert.ok(Math.abs(reduction - target) < 0.05, `${reduction} vs ${target}`);
  // At or below what the resolution alone cuts, nothing is merged.
  assert.deepEqual(scheduleForReduction(config, tome, cut / 2, { resolution: 32 }), [0, 0, 0, 0]);
});

for (const backend of CPU_BACKENDS) {
  Deno.test(`resolution (${backend}): a run at 32 pixels is the model built for 32 pixels`, async () => {
    const weights = randomWeights(config, 11);
    const merged = await Classifier.fromBundle(bundleOf(config, weights), {
      backend,
      method: tome,
      sources: true,
    });
    // The reference: a plain graph for 32-pixel images with timm's resampled position embedding,
    // fed the image resized as the graph resizes it.
    const small = atResolution(config, 32);
    const own = weights.get("pos_embed")!;
    const resampled = resamplePosEmbed(own.data, { prefix: 1, grid: 6, width: 16 }, 4);
    const reference = await Classifier.fromBundle(
      bundleOf(
        small,
        new Map([...weights, ["pos_embed", { ...own, dims: [1, 17, 16], data: resampled }]]),
      ),
      { backend },
    );
    const image = randomPixels(config, 1);
    const zeros = [0, 0, 0, 0];
    const [low] = await merged.run([image], zeros, {}, tome, 32);
    const [ref] = await reference.run([bilinearRef(image, 48, 32)], zeros);
    assert.ok(maxAbsDiff(low.logits, ref.logits) < 1e-4, `${maxAbsDiff(low.logits, ref.logits)}`);
    assert.deepEqual(low.tokens, [17, 17, 17, 17, 17]);
    assert.equal(low.gmacs, gmacs(small, low.tokens));
    assert.equal(low.sourceMap!.length, 16, "one entry per patch of the 4 x 4 grid");
    // Merging on top of the lower resolution, and the model's own resolution by default.
    const [mergedLow] = await merged.run([image], [2, 2, 2, 2], {}, tome, 32);
    assert.deepEqual(mergedLow.tokens, [17, 15, 13, 11, 9]);
    const [full] = await merged.run([image], zeros);
    const [fullAgain] = await merged.run([image], zeros, {}, tome, 48);
    assert.equal(full.tokens[0], 37);
    assert.deepEqual(full.logits, fullAgain.logits);
    assert.notDeepEqual(full.logits, low.logits);
    await assert.rejects(() => merged.run([image], zeros, {}, tome, 36), ResolutionError);
    await assert.rejects(() => reference.run([image], zeros, {}, undefined, 40), /merge method/);
    await merged.release();
    await reference.release();
  });

  Deno.test(`resolution (${backend}): a segmented run starts at its resolution`, async () => {
    const merged = await Classifier.fromBundle(bundleOf(config), {
      backend,
      method: tome,
      segments: 2,
    });
    const image = randomPixels(config, 1, 3);
    const schedule = [1, 1, 1, 1];
    const whole = await merged.run([image], schedule, {}, tome, 40);
    const first = await merged.runSegment([image], 2, schedule, {}, tome, 40);
    const rest = await merged.runSegment(first.state, 4, schedule, {}, tome);
    assert.deepEqual(rest.state.tokens, whole[0].tokens);
    assert.equal(whole[0].tokens[0], 26);
    assert.ok(maxAbsDiff(rest.logits![0], whole[0].logits) < 1e-4);
    await merged.release();
  });
}

Deno.test("resolution: each resolution's points make their own accuracy curve", () => {
  const full = unmergedGmacs(config);
  const acc = AccuracyModel.fromTable({
    model: config.name,
    source: "test",
    points: [
      { method: "none", schedule: [0, 0, 0, 0], gmacs: full, reduction: 0, top1: 0.8 },
      { method: "tome", schedule: [2, 2, 2, 2], gmacs: 0.6 * full, reduction: 0.4, top1: 0.7 },
      {
        method: "tome",
        schedule: [1, 1, 1, 1],
        resolution: 32,
        gmacs: 0.4 * full,
        reduction: 0.6,
        top1: 0.72,
      },
      {
        method: "tome",
        schedule: [2, 2, 2, 2],
        resolution: 32,
        gmacs: 0.3 * full,
        reduction: 0.7,
        top1: 0.6,
      },
    ],
  });
  assert.deepEqual(acc.families("tome"), [{ kind: "constant" }, {
    kind: "constant",
    resolution: 32,
  }]);
  // The own curve ends at the unmerged point; a lower resolution's does not.
  assert.deepEqual(acc.curve("tome"), [[0.6 * full, 0.7], [full, 0.8]]);
  assert.deepEqual(acc.curve("tome", "constant", 32), [[0.3 * full, 0.6], [0.4 * full, 0.72]]);
  assert.ok(acc.expected("tome", 0.4 * full, "constant", 32)! > acc.expected("tome", 0.4 * full)!);
});
