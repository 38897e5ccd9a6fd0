// Our ToMe against the official implementation's golden outputs (needs ../shared).
import assert from "node:assert/strict";
import { Classifier } from "../lib/runtime/classifier.ts";
import { tome } from "../lib/merge/tome.ts";
import { argmax, DEIT_TINY, devImage, HAS_SHARED, SHARED } from "./helpers/shared.ts";

interface OfficialRun {
  r_per_layer: number[];
  tokens: number[];
  images: { file: string; top5: number[]; logits: number[] }[];
}

Deno.test({
  name:
    "tome: matches the official ToMe on DeiT-Tiny (r = 8, 16): tokens identical, top-1 >= 46/48",
  ignore: !HAS_SHARED,
  fn: async () => {
    const golden = JSON.parse(
      await Deno.readTextFile(`${SHARED}/reference/tome_official_dev48.json`),
    );
    const c = await Classifier.load({ model: DEIT_TINY, backend: "wasm", method: tome });
    const first = (golden.runs.r8 as OfficialRun).images;
    const inputs = await Promise.all(first.map(async (im) => c.prepare(await devImage(im.file))));
    for (const key of ["r8", "r16"]) {
      const run = golden.runs[key] as OfficialRun;
      const r = Number(key.slice(1));
      let agree = 0, absSum = 0;
      for (let i = 0; i < inputs.length; i += 8) {
        const outs = await c.run(inputs.slice(i, i + 8), Array(12).fill(r));
        outs.forEach((o, j) => {
          const ref = run.images[i + j];
          const logits = ref.logits;
          assert.deepEqual(o.tokens, run.tokens);
          if (argmax(o.logits) === ref.top5[0]) agree++;
          absSum += logits.reduce((a, v, k) => a + Math.abs(v - o.logits[k]), 0) / logits.length;
        });
      }
      // The two exact reference inputs isolate the merge logic from JPEG-decoder differences.
      for (const ref of run.images.slice(0, 2)) {
        const bytes = await Deno.readFile(`${SHARED}/reference/input_${ref.file}.f32`);
        const [o] = await c.run([new Float32Array(bytes.buffer)], Array(12).fill(r));
        const diff = Math.max(...ref.logits.map((v, k) => Math.abs(v - o.logits[k])));
        console.log(
          `${key} ${ref.file} (exact input): max abs logit diff ${diff.toExponential(2)}`,
        );
        assert.ok(diff < 1e-3);
      }
      console.log(
        `${key}: tokens ${run.tokens.join(",")} identical; top-1 agreement ${agree}/48; ` +
          `mean abs logit diff ${(absSum / 48).toFixed(4)}`,
      );
      assert.ok(agree >= 46, `${key}: top-1 agreement ${agree}/48`);
    }
    await c.release();
  },
});
