import assert from "node:assert/strict";
import { type HostTensor } from "../lib/backend/session.ts";
import { METHODS } from "../lib/merge/methods.ts";
import { clampSchedule, tokensPerBlock } from "../lib/merge/schedule.ts";
import type { MergeMethod } from "../lib/merge/step.ts";
import { patchCount, type ViTConfig } from "../lib/checkpoint/config.ts";
import type { Tensor } from "../lib/checkpoint/safetensors.ts";
import {
  applyRef,
  evitRef,
  pitomeRef,
  type RefPlan,
  sadtmRef,
  tomeRef,
} from "./helpers/merge_reference.ts";
import { randn, rng } from "../lib/checkpoint/random.ts";
import { maxAbsDiff, randomPixels, referenceForward } from "./helpers/tiny_vit.ts";
import { CPU_BACKENDS, ownResolution, tinySession, tinyVit } from "./helpers/fixtures.ts";
import type { BackendName } from "../lib/backend/session.ts";

// 32x32 images in 4x4 patches: 64 patches + class token = 65 tokens (odd: exercises ToMe's split).
const { config, weights } = tinyVit();
const BATCH = 2;
const ALPHA = 0.3;
// A random saliency prior for SAD-TM (one value per patch).
const PRIOR = Array.from(randn(rng(9), patchCount(config)));
// SAD-TM's merge weights: `IMPORTANCE=0` in a test name's variant means size-only averages.
const methodFeeds = (importance: number) => ({
  prior: { data: Float32Array.from(PRIOR), dims: [PRIOR.length] },
  alpha: { data: new Float32Array([ALPHA]), dims: [1] },
  importance_weight: { data: new Float32Array([importance]), dims: [1] },
});

type Mat = Float64Array[];
function referencePlan(
  name: string,
  block: number,
  keys: Mat,
  attn: Mat[],
  r: number,
  o: number[],
  importance: number,
): RefPlan {
  const prefix = config.prefixTokens;
  if (name === "tome") return tomeRef(keys, r, prefix);
  if (name.startsWith("sadtm")) return sadtmRef(keys, attn, o, r, prefix, ALPHA, importance);
  if (name === "evit") return evitRef(attn, r, prefix);
  return pitomeRef(keys, r, prefix, 0.75 * (1 - block / config.depth));
}

async function runGraph(
  c: ViTConfig,
  w: Map<string, Tensor>,
  method: MergeMethod | undefined,
  r: number[],
  importance = 1,
  backend: BackendName = "wasm",
) {
  const session = await tinySession(c, w, { method, backend, sources: true });
  const out = await session.run({
    pixel_values: { data: randomPixels(c, BATCH), dims: [BATCH, 3, c.imgSize, c.imgSize] },
    // As Classifier.run does: the graph is fed a schedule its tokens allow.
    r: { data: BigInt64Array.from(clampSchedule(c, method, r), BigInt), dims: [c.depth] },
    ...(method && ownResolution(c)),
    ...(method?.inputs ? methodFeeds(importance) : {}),
  });
  await session.release();
  return out;
}

const ints = (t: HostTensor) => Array.from(t.data as BigInt64Array, Number);

// Methods with a scheduled r; the adaptive ones have their own tests.
const SCHEDULED = Object.keys(METHODS).filter((name) => !METHODS[name].adaptive);

const REFERENCE_CASES: [string, number][] = [...SCHEDULED.map((n): [string, number] => [n, 1]), [
  "sadtm",
  0,
]];

for (const [name, importance] of REFERENCE_CASES) {
  const variant = importance === 1 ? "" : " (size-weighted)";
  for (const backend of CPU_BACKENDS) {
    Deno.test(`${name}${variant} (${backend}): the step in ORT equals the plain-TypeScript reference (tokens, map, sizes, logits)`, async () => {
      const schedule = [5, 9, 0, 7];
      const out = await runGraph(config, weights, METHODS[name], schedule, importance, backend);
      const pixels = randomPixels(config, BATCH);
      const per = 3 * config.imgSize ** 2, p = patchCount(config);
      const nFinal = out.sizes.dims[1];
      for (let b = 0; b < BATCH; b++) {
        let source = Array.from({ length: p }, (_, i) => i + config.prefixTokens);
        let finalSize: number[] = [];
        // SAD-TM's o, carried explicitly as the size-weighted mean of merged members.
        let o = [0, ...PRIOR];
        const ref = referenceForward(config, weights, pixels.subarray(b * per, (b + 1) * per), {
          afterAttention: (block, x, size, keys, attn) => {
            const plan = referencePlan(name, block, keys, attn, schedule[block], o, importance);
            source = source.map((t) => plan.assign[t]);
            const merged = applyRef(x, size, plan);
            const oSum = Array(plan.count).fill(0);
            o.forEach((v, i) => oSum[plan.assign[i]] += v * size[i]);
            o = oSum.map((v, t) => v / merged.size[t]);
            finalSize = merged.size;
            return merged;
          },
        });
        assert.deepEqual(ints(out.tokens), ref.tokens);
        assert.deepEqual(ints(out.source_map).slice(b * p, (b + 1) * p), source);
        assert.deepEqual(
          Array.from(out.sizes.data as Float32Array).slice(b * nFinal, (b + 1) * nFinal),
          finalSize,
        );
        const logits = (out.logits.data as Float32Array).subarray(b * 10, (b + 1) * 10);
        assert.ok(
          maxAbsDiff(logits, ref.logits) < 1e-3,
          `image ${b}: ${maxAbsDiff(logits, ref.logits)}`,
        );
      }
    });

    if (importance !== 1) continue;
    Deno.test(`${name} (${backend}): r = 0 gives logits identical to the unmerged graph`, async () => {
      const zeros = Array(config.depth).fill(0);
      const merged = await runGraph(config, weights, METHODS[name], zeros, 1, backend);
      const plain = await runGraph(config, weights, undefined, zeros, 1, backend);
      assert.deepEqual(merged.logits.data, plain.logits.data);
      assert.deepEqual(ints(merged.tokens), Array(config.depth + 1).fill(65));
    });
  }
  if (importance !== 1) continue;

  Deno.test(`${name}: too many merges are clamped; sizes sum to the patches; map matches sizes`, async () => {
    for (const schedule of [[1000, 1000, 1000, 1000], [3, 40, 2, 64], [-4, 2, 1, 0]]) {
      const out = await runGraph(config, weights, METHODS[name], schedule);
      assert.deepEqual(ints(out.tokens), tokensPerBlock(config, METHODS[name], schedule));
      assert.ok((out.logits.data as Float32Array).every(Number.isFinite));
      const n = out.sizes.dims[1], p = patchCount(config);
      const sizes = Array.from(out.sizes.data as Float32Array);
      const map = ints(out.source_map);
      for (let b = 0; b < BATCH; b++) {
        const mine = sizes.slice(b * n, (b + 1) * n);
        assert.equal(mine.slice(config.prefixTokens).reduce((a, v) => a + v, 0), p);
        const counted = Array(n).fill(0);
        for (const t of map.slice(b * p, (b + 1) * p)) counted[t]++;
        assert.deepEqual(counted.slice(config.prefixTokens), mine.slice(config.prefixTokens));
      }
    }
  });
}
