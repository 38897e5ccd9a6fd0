import assert from "node:assert/strict";
import { gmacs } from "../lib/merge/cost.ts";
import {
  ARCHITECTURES,
  ConfigError,
  configFromTimm,
  tokenCount,
} from "../lib/checkpoint/config.ts";
import { buildViTGraph, WeightError } from "../lib/vit/graph.ts";
import {
  maxAbsDiff,
  randomPixels,
  randomWeights,
  referenceForward,
  tinyConfig,
} from "./helpers/tiny_vit.ts";
import { CPU_BACKENDS, ownResolution, tinySession } from "./helpers/fixtures.ts";
import { type BackendName, createSession } from "../lib/backend/session.ts";
import { tome } from "../lib/merge/tome.ts";

async function runPlain(
  config: ReturnType<typeof tinyConfig>,
  batch: number,
  backend: BackendName,
) {
  const weights = randomWeights(config);
  const session = await tinySession(config, weights, { backend });
  const pixels = randomPixels(config, batch);
  const out = await session.run({
    pixel_values: { data: pixels, dims: [batch, 3, config.imgSize, config.imgSize] },
    r: { data: new BigInt64Array(config.depth), dims: [config.depth] },
  });
  await session.release();
  return { weights, pixels, out };
}

for (const backend of CPU_BACKENDS) {
  for (const pool of ["token", "avg"] as const) {
    Deno.test(`vit graph (${pool} pool, ${backend}): ORT logits equal the TypeScript reference`, async () => {
      const config = tinyConfig({ globalPool: pool, propAttn: pool === "token" });
      const { weights, pixels, out } = await runPlain(config, 2, backend);
      const per = 3 * config.imgSize ** 2;
      const logits = out.logits.data as Float32Array;
      assert.deepEqual(out.logits.dims, [2, config.numClasses]);
      for (let b = 0; b < 2; b++) {
        const ref = referenceForward(config, weights, pixels.subarray(b * per, (b + 1) * per));
        const got = logits.subarray(b * config.numClasses, (b + 1) * config.numClasses);
        assert.ok(maxAbsDiff(got, ref.logits) < 1e-4, `image ${b}: ${maxAbsDiff(got, ref.logits)}`);
      }
      assert.deepEqual(
        Array.from(out.tokens.data as BigInt64Array, Number),
        Array(config.depth + 1).fill(17),
      );
    });
  }
}

Deno.test("vit graph: a missing or misshapen weight is named", () => {
  const config = tinyConfig();
  const weights = randomWeights(config);
  weights.delete("blocks.1.mlp.fc1.bias");
  assert.throws(
    () => buildViTGraph({ config, weights }),
    (e: Error) =>
      e instanceof WeightError && /missing weight blocks\.1\.mlp\.fc1\.bias/.test(e.message),
  );
  const bad = randomWeights(config);
  bad.set("head.weight", { dims: [3, 3], data: new Float32Array(9) });
  assert.throws(
    () => buildViTGraph({ config, weights: bad }),
    /head\.weight has shape \[3,3\], expected \[10,16\]/,
  );
});

Deno.test("configs: GMACs of the unmerged DeiT family match ALGORITHMS.md", () => {
  for (
    const [name, want] of [["deit_tiny_patch16_224", 1.254], ["deit_small_patch16_224", 4.599], [
      "deit_base_patch16_224",
      17.56,
    ]] as const
  ) {
    const c = ARCHITECTURES[name].vit;
    const got = gmacs(c, Array(c.depth + 1).fill(tokenCount(c)));
    assert.ok(Math.abs(got - want) / want < 1e-3, `${name}: ${got}`);
  }
});

const HALF = [0.5, 0.5, 0.5];

Deno.test("configs: timm config.json is read, with built-in defaults and clear errors", () => {
  const { vit, preprocess } = configFromTimm({
    architecture: "vit_base_patch16_224",
    num_classes: 1000,
  });
  assert.equal(vit.embedDim, 768);
  assert.equal(preprocess.cropPct, 0.9);
  assert.deepEqual(preprocess.mean, HALF);
  const tiny = configFromTimm({ architecture: "vit_tiny_patch16_224" });
  assert.deepEqual([tiny.vit.embedDim, tiny.vit.numHeads, tiny.vit.depth], [192, 3, 12]);
  assert.deepEqual(tiny.preprocess, { inputSize: 224, cropPct: 0.9, mean: HALF, std: HALF });
  const own = configFromTimm({
    architecture: "vit_tiny_patch16_224",
    pretrained_cfg: { interpolation: "bicubic", crop_mode: "center", crop_pct: 0.95 },
  });
  assert.equal(own.preprocess.cropPct, 0.95);
  assert.throws(
    () =>
      configFromTimm({
        architecture: "vit_tiny_patch16_224",
        pretrained_cfg: { interpolation: "bilinear" },
      }),
    /pretrained_cfg.interpolation "bilinear" is not supported \(bicubic\)/,
  );
  const mae = configFromTimm({ architecture: "vit_huge_patch14_224_mae" }).vit;
  assert.equal(mae.patchSize, 14);
  assert.equal(mae.globalPool, "avg");
  assert.equal(mae.propAttn, false);
  assert.throws(() => configFromTimm({}), ConfigError);
  assert.throws(
    () => configFromTimm({ architecture: "resnet50" }),
    /unknown architecture resnet50/,
  );
  assert.throws(
    () => configFromTimm({ architecture: "deit_tiny_patch16_224", global_pool: "max" }),
    /global_pool max/,
  );
  assert.throws(
    () => configFromTimm({ architecture: "x", model_args: { embed_dim: 10, num_heads: 3 } }),
    /not divisible/,
  );
});

Deno.test("vit graph: the truncate baseline keeps each merging block's first N - r tokens", async () => {
  const config = tinyConfig({ propAttn: true });
  const weights = randomWeights(config);
  const schedule = Array.from({ length: config.depth }, (_, i) => (i % 2 === 0 ? 2 : 0));
  const graph = buildViTGraph({ config, weights }, tome, { truncate: true });
  const session = await createSession(graph, { backend: "wasm" });
  const pixels = randomPixels(config, 1);
  const out = await session.run({
    pixel_values: { data: pixels, dims: [1, 3, config.imgSize, config.imgSize] },
    r: { data: BigInt64Array.from(schedule, BigInt), dims: [config.depth] },
    ...ownResolution(config),
  });
  await session.release();
  const ref = referenceForward(config, weights, pixels, {
    afterAttention: (block, x, size) => {
      const keep = x.length - schedule[block];
      return { x: x.slice(0, keep), size: size.slice(0, keep) };
    },
  });
  assert.deepEqual(Array.from(out.tokens.data as BigInt64Array, Number), ref.tokens);
  assert.ok(ref.tokens.at(-1)! < ref.tokens[0], "the schedule must drop tokens");
  const diff = maxAbsDiff(out.logits.data as Float32Array, ref.logits);
  assert.ok(diff < 1e-4, `logits differ by ${diff}`);
});
