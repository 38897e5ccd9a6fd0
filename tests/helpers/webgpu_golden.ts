/**
 * Runs the 48 golden DeiT-Tiny images on the (forced) software WebGPU adapter and on WASM, in a
 * process of its own, so that `tests/webgpu_test.ts` can bound its time: the software adapter
 * stack (wgpu on llvmpipe) has been seen to hang without an error. Each stage is named on
 * stderr before it starts, so a hang is reported with where it stopped; the result is one JSON
 * line on stdout.
 *
 * @example
 * ```sh
 * deno run --allow-all tests/helpers/webgpu_golden.ts
 * # {"agree":48,"images":48,"maxAbsDiff":0.00002}
 * ```
 */
import { Classifier } from "../../lib/runtime/classifier.ts";
import { argmax, DEIT_TINY, devImage, goldenDev48 } from "./shared.ts";
import { maxAbsDiff } from "./tiny_vit.ts";

const stage = (name: string) => console.error(`stage: ${name}`);

stage("load webgpu");
const gpu = await Classifier.load({
  model: DEIT_TINY,
  backend: "webgpu",
  allowFallbackAdapter: true,
});
stage("load wasm");
const cpu = await Classifier.load({ model: DEIT_TINY, backend: "wasm" });
const golden = await goldenDev48();
const inputs = await Promise.all(golden.map(async (g) => cpu.prepare(await devImage(g.file))));
let agree = 0, worst = 0;
for (let i = 0; i < inputs.length; i += 16) {
  const batch = inputs.slice(i, i + 16);
  stage(`webgpu images ${i}-${i + batch.length - 1}`);
  const g = await gpu.run(batch);
  stage(`wasm images ${i}-${i + batch.length - 1}`);
  const c = await cpu.run(batch);
  g.forEach((o, j) => {
    if (argmax(o.logits) === argmax(c[j].logits)) agree++;
    worst = Math.max(worst, maxAbsDiff(o.logits, c[j].logits));
  });
}
console.log(JSON.stringify({ agree, images: inputs.length, maxAbsDiff: worst }));
stage("release");
await gpu.release();
await cpu.release();
stage("done");
// Exit at once: the process's WebGPU device is torn down by the OS, not by a wgpu drop at exit.
Deno.exit(0);
