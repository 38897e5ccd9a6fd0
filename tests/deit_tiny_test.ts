// Pretrained DeiT-Tiny against golden outputs; needs ../shared (skipped with a message otherwise).
import assert from "node:assert/strict";
import { Classifier } from "../lib/runtime/classifier.ts";
import {
  argmax,
  assertGoldenDev48,
  DEIT_TINY,
  goldenDev48,
  HAS_SHARED,
  readLabels,
  SHARED,
} from "./helpers/shared.ts";

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !HAS_SHARED, fn });

let classifier: Classifier | undefined;
async function deit(): Promise<Classifier> {
  classifier ??= await Classifier.load({ model: DEIT_TINY, backend: "wasm" });
  return classifier;
}

test("deit-tiny: reference input tensors give the golden logits (max abs diff <= 1e-3)", async () => {
  const c = await deit();
  const golden = await goldenDev48();
  for (const image of golden.slice(0, 2)) {
    const bytes = await Deno.readFile(`${SHARED}/reference/input_${image.file}.f32`);
    const [out] = await c.run([new Float32Array(bytes.buffer)]);
    const diff = Math.max(...image.logits.map((v, i) => Math.abs(v - out.logits[i])));
    console.log(`${image.file}: max abs logit diff ${diff.toExponential(2)}`);
    assert.ok(diff <= 1e-3, `${image.file}: ${diff}`);
  }
});

test("deit-tiny: own decode + preprocess agrees with the golden run on 48 images", async () => {
  await assertGoldenDev48(await deit(), await goldenDev48("deit_tiny"));
});

test("deit-tiny: unmerged top-1 on all of imagenet-val-dev is within 0.5 pt of 81.39 %", async () => {
  const c = await deit();
  const dir = `${SHARED}/data/imagenet-val-dev`;
  const rows = await readLabels(dir);
  let correct = 0;
  for (let i = 0; i < rows.length; i += 8) {
    const batch = rows.slice(i, i + 8);
    const inputs = await Promise.all(
      batch.map(async ([f]) => c.prepare(await Deno.readFile(`${dir}/${f}`))),
    );
    const outs = await c.run(inputs);
    outs.forEach((o, j) => correct += argmax(o.logits) === batch[j][1] ? 1 : 0);
  }
  const top1 = (100 * correct) / rows.length;
  console.log(`unmerged top-1 ${top1.toFixed(2)} % on ${rows.length} images (reference 81.39 %)`);
  assert.equal(rows.length, 677);
  assert.ok(Math.abs(top1 - 81.39) <= 0.5, `top-1 ${top1}`);
  await c.release();
});
