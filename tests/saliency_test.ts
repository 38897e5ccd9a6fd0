import assert from "node:assert/strict";
import { join } from "node:path";
import { Classifier } from "../lib/runtime/classifier.ts";
import {
  findPrior,
  missingPriorMessage,
  priorFor,
  priorFromKv,
  readPriorFile,
  savePriorToKv,
} from "../lib/kv/priors.ts";
import { sadtm, sadtmDm } from "../lib/merge/sadtm.ts";
import { PriorError } from "../lib/merge/step.ts";
import {
  checkPrior,
  classAttentionMse,
  classAttentionRelativeMse,
  patchOutlierness,
  saliencyMap,
  type SaliencyPrior,
  suggestTau,
} from "../lib/saliency/prior.ts";
import { randn, rng } from "../lib/checkpoint/random.ts";
import { tinyModel, writeImageFolder } from "./helpers/fixtures.ts";
import { tinyConfig } from "./helpers/tiny_vit.ts";

Deno.test("prior: saliency map is the channel max of |grad|", () => {
  const grad = Float32Array.from([1, -5, 0, 2, /* ch1 */ -3, 1, 0.5, -2, /* ch2 */ 0, 4, -1, 1]);
  assert.deepEqual(Array.from(saliencyMap(grad, 2)), [3, 5, 1, 2]);
});

Deno.test("prior: outlierness equals a direct Pearson computation", () => {
  const size = 12, p = 4, g = 3;
  const map = Float32Array.from(randn(rng(2), size * size).map(Math.abs));
  map.fill(0.7, 0, 4); // part of patch 0 constant: still a valid (non-constant) patch
  const got = patchOutlierness(map, size, p);
  const patch = (k: number) => {
    const out: number[] = [];
    for (let y = 0; y < p; y++) {
      for (let x = 0; x < p; x++) {
        out.push(map[(Math.floor(k / g) * p + y) * size + (k % g) * p + x]);
      }
    }
    return out;
  };
  const pearson = (a: number[], b: number[]) => {
    const ma = a.reduce((s, v) => s + v) / a.length, mb = b.reduce((s, v) => s + v) / b.length;
    let num = 0, da = 0, db = 0;
    a.forEach((v, i) => {
      num += (v - ma) * (b[i] - mb);
      da += (v - ma) ** 2;
      db += (b[i] - mb) ** 2;
    });
    return num / Math.sqrt(da * db);
  };
  for (let i = 0; i < g * g; i++) {
    let sum = 0;
    for (let j = 0; j < g * g; j++) if (j !== i) sum += pearson(patch(i), patch(j));
    assert.ok(Math.abs(got[i] - sum / (g * g - 1)) < 1e-9, `patch ${i}`);
  }
  // A constant patch has no correlation: it counts as 0, never NaN.
  const flat = new Float32Array(size * size).fill(1);
  assert.ok(patchOutlierness(flat, size, p).every((v) => v === 0));
});

Deno.test("prior: class-attention MSE curves and the suggested tau", () => {
  const rows = [[0.1, 0.3], [0.3, 0.1], [0.31, 0.1], [0.3, 0.11]].map((r) => Float32Array.from(r));
  const mse = classAttentionMse(rows);
  assert.ok(Math.abs(mse[0] - 0.04) < 1e-7 && Math.abs(mse[1] - 0.00005) < 1e-7);
  assert.equal(classAttentionRelativeMse(rows).length, 3);
  assert.equal(suggestTau([2, 1.5, 0.2, 0.1, 0.9]), 2);
  assert.equal(suggestTau([0.1, 0.2, 2]), 0);
  assert.equal(suggestTau([1, 1, 1]), 3);
});

function prior(model: string): SaliencyPrior {
  return {
    model,
    grid: [8, 8],
    patchSize: 4,
    vector: Array.from({ length: 64 }, (_, i) => i / 64),
    images: 3,
    imageListHash: "x",
    classAttentionMse: [1, 0.5],
    classAttentionRelativeMse: [1, 0.2],
    suggestedTau: 1,
    labels: "ground_truth",
  };
}

Deno.test("priors: KV round trip, lookup by model only, clear error when missing", async () => {
  const kv = await Deno.openKv(":memory:");
  await savePriorToKv(kv, prior("alpha_model"));
  assert.deepEqual(await priorFromKv(kv, "alpha_model"), prior("alpha_model"));
  // Same grid, other model: no prior, in KV or in files (never another model's).
  assert.equal(await priorFromKv(kv, "other_model"), undefined);
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(join(dir, "beta.json"), JSON.stringify(prior("beta_model")));
  assert.equal((await findPrior("alpha_model", { kv, dir })).model, "alpha_model");
  assert.equal((await findPrior("beta_model", { kv, dir })).model, "beta_model");
  await assert.rejects(
    findPrior("other_model", { kv, dir }),
    (e: Error) =>
      e instanceof PriorError &&
      e.message === missingPriorMessage("other_model", ["beta_model"]) &&
      /no saliency prior for other_model \(priors exist for: beta_model;/.test(e.message) &&
      /SAD-TM methods are unavailable/.test(e.message),
  );
  const other = tinyConfig({ name: "other_model" });
  assert.equal(await priorFor(other, undefined, { kv, dir }), undefined);
  // Another model's prior only when the caller passes it.
  assert.equal((await priorFor(other, join(dir, "beta.json"), { kv, dir }))?.model, "beta_model");
  await Deno.writeTextFile(join(dir, "bad.json"), JSON.stringify({ model: "m", vector: [NaN] }));
  await assert.rejects(readPriorFile(join(dir, "bad.json")), /not a valid saliency prior/);
  // A malformed file among the priors is told, not taken for a missing prior.
  await assert.rejects(
    priorFor(other, undefined, { kv, dir }),
    /bad\.json: not a valid saliency prior/,
  );
  kv.close();
});

Deno.test("sadtm: a missing prior is a clear error; a constant prior gives finite logits", async () => {
  const { bundle } = await tinyModel();
  await assert.rejects(
    Classifier.fromBundle(bundle, { backend: "wasm", method: sadtm }),
    (e) =>
      e instanceof PriorError && /sadtm needs a saliency prior for tiny_test_vit/.test(e.message),
  );
  const flat = { ...prior("tiny_test_vit"), vector: Array(64).fill(0.25) };
  const c = await Classifier.fromBundle(bundle, { backend: "wasm", method: sadtm, prior: flat });
  const [out] = await c.run([new Float32Array(3 * 32 * 32).fill(0.1)], [8, 8, 8, 8]);
  assert.ok(out.logits.every(Number.isFinite));
  assert.deepEqual(out.tokens, [65, 57, 49, 41, 33]);
  await c.release();
});

Deno.test("cli: priors writes a valid prior file and stores it in KV", async () => {
  const { root, dir: model } = await tinyModel();
  const images = await writeImageFolder(join(root, "images"), 5);
  const out = join(root, "prior.json"), kvPath = join(root, "kv.sqlite3");
  // A recomputed prior keeps the settings chosen for its model.
  const settings = { sadtm: { alpha: 0.5, priorSign: -1 } };
  await Deno.writeTextFile(out, JSON.stringify({ ...prior("tiny_test_vit"), settings }));
  const run = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "lib/cli/priors.ts",
      "--model",
      model,
      "--images",
      images,
      "--out",
      out,
      "--kv",
      kvPath,
      "--batch",
      "2",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
  const written = await readPriorFile(out);
  assert.equal(written.images, 5);
  assert.equal(written.vector.length, 64);
  assert.equal(written.classAttentionMse.length, 3);
  assert.deepEqual(written.settings, settings);
  const kv = await Deno.openKv(kvPath);
  assert.deepEqual(await priorFromKv(kv, "tiny_test_vit"), written);
  kv.close();
});

Deno.test("sadtm: prior sign -1 is the same as the negated prior", async () => {
  const { bundle } = await tinyModel();
  const p = prior("tiny_test_vit");
  const negated = { ...p, vector: p.vector.map((v) => -v) };
  const x = new Float32Array(3 * 32 * 32).map((_, i) => Math.sin(i / 7));
  const logits = async (options: Parameters<typeof Classifier.fromBundle>[1]) => {
    const c = await Classifier.fromBundle(bundle, { backend: "wasm", method: sadtm, ...options });
    const [out] = await c.run([x], [6, 6, 6, 6]);
    await c.release();
    return out.logits;
  };
  // alpha < 1, so the prior matters.
  const run = (prior: typeof p, priorSign: 1 | -1) => logits({ prior, priorSign, alpha: 0.5 });
  assert.deepEqual(await run(p, -1), await run(negated, 1));
  assert.notDeepEqual(await run(p, 1), await run(negated, 1));
});

Deno.test("sadtm: a prior's settings replace the defaults; explicit options replace them", async () => {
  const { bundle } = await tinyModel();
  const p = prior("tiny_test_vit");
  const x = new Float32Array(3 * 32 * 32).map((_, i) => Math.cos(i / 5));
  const run = async (prior: SaliencyPrior, options: { alpha?: number; priorSign?: 1 | -1 }) => {
    const c = await Classifier.fromBundle(bundle, {
      backend: "wasm",
      method: sadtmDm,
      prior,
      ...options,
    });
    const [out] = await c.run([x], c.scheduleFor(0.3));
    const tau = c.suggestedTau();
    await c.release();
    return { logits: out.logits, tau };
  };
  const tuned = { ...p, settings: { "sadtm-dm": { alpha: 0.5, priorSign: 1 as const, tau: 2 } } };
  const fromSettings = await run(tuned, {});
  assert.equal(fromSettings.tau, 2);
  assert.notEqual(p.suggestedTau, 2, "the fixture's own suggestion should differ");
  // The settings are the explicit options (and the delay) they name...
  const delayed = { ...p, suggestedTau: 2 };
  assert.deepEqual(fromSettings.logits, (await run(delayed, { alpha: 0.5, priorSign: 1 })).logits);
  assert.notDeepEqual(fromSettings.logits, (await run(delayed, {})).logits, "they should matter");
  // ...and options given explicitly win over them.
  const overridden = await run(tuned, { alpha: 1 });
  assert.deepEqual(overridden.logits, (await run(delayed, { alpha: 1 })).logits);
  assert.throws(
    () => checkPrior({ ...p, settings: { sadtm: { alpha: 2 } } }, "bad.json"),
    /settings of sadtm: alpha must be in \[0, 1\]/,
  );
});
