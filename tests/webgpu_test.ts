// The WebGPU path, forced onto the software adapter (llvmpipe) where no real GPU exists.
import assert from "node:assert/strict";
import { BackendError, createSession, findGpuAdapter } from "../lib/backend/session.ts";
import { Classifier } from "../lib/runtime/classifier.ts";
import { buildViTGraph } from "../lib/vit/graph.ts";
import { argmax, DEIT_TINY, devImage, goldenDev48, HAS_SHARED } from "./helpers/shared.ts";
import { maxAbsDiff, randomPixels, randomWeights, tinyConfig } from "./helpers/tiny_vit.ts";

const anyAdapter = await findGpuAdapter(true);
const realAdapter = await findGpuAdapter(false);
if (!anyAdapter) console.warn("skipping WebGPU tests: no WebGPU adapter at all");

Deno.test({
  name: "webgpu: refused with a clear error when only a software adapter exists",
  ignore: !anyAdapter || !!realAdapter,
  fn: async () => {
    const model = buildViTGraph({ config: tinyConfig(), weights: randomWeights(tinyConfig()) });
    await assert.rejects(
      createSession(model, { backend: "webgpu" }),
      (e: Error) => e instanceof BackendError && /only a software adapter/.test(e.message),
    );
  },
});

Deno.test({
  name: "webgpu: a tiny ViT on the (forced) WebGPU adapter matches WASM",
  ignore: !anyAdapter,
  fn: async () => {
    const config = tinyConfig();
    const model = buildViTGraph({ config, weights: randomWeights(config) });
    const feeds = {
      pixel_values: { data: randomPixels(config, 2), dims: [2, 3, 32, 32] },
      r: { data: new BigInt64Array(config.depth), dims: [config.depth] },
    };
    const gpu = await createSession(model, { backend: "webgpu", allowFallbackAdapter: true });
    const cpu = await createSession(model, { backend: "wasm" });
    assert.equal(gpu.backend, "webgpu");
    const a = (await gpu.run(feeds)).logits.data as Float32Array;
    const b = (await cpu.run(feeds)).logits.data as Float32Array;
    assert.ok(maxAbsDiff(a, b) < 1e-3, `max abs diff ${maxAbsDiff(a, b)}`);
    await gpu.release();
    await cpu.release();
  },
});

Deno.test({
  name: "webgpu: DeiT-Tiny on WebGPU and WASM agree on top-1 for the 48 golden images",
  ignore: !anyAdapter || !HAS_SHARED,
  fn: async () => {
    const gpu = await Classifier.load({
      model: DEIT_TINY,
      backend: "webgpu",
      allowFallbackAdapter: true,
    });
    const cpu = await Classifier.load({ model: DEIT_TINY, backend: "wasm" });
    const golden = await goldenDev48();
    const inputs = await Promise.all(golden.map(async (g) => cpu.prepare(await devImage(g.file))));
    let agree = 0, worst = 0;
    for (let i = 0; i < inputs.length; i += 16) {
      const batch = inputs.slice(i, i + 16);
      const [g, c] = [await gpu.run(batch), await cpu.run(batch)];
      g.forEach((o, j) => {
        if (argmax(o.logits) === argmax(c[j].logits)) agree++;
        worst = Math.max(worst, maxAbsDiff(o.logits, c[j].logits));
      });
    }
    console.log(
      `WebGPU vs WASM: top-1 agree ${agree}/48, max abs logit diff ${worst.toExponential(2)}`,
    );
    assert.equal(agree, 48);
    await gpu.release();
    await cpu.release();
  },
});
