// One session for every method: the shared (multi-method, segmented) graph answers as each
// method's own graph does, and a run cut into segments equals the run in one piece.
import assert from "node:assert/strict";
import { METHODS } from "../lib/merge/methods.ts";
import { Classifier } from "../lib/runtime/classifier.ts";
import { Engine } from "../lib/runtime/engine.ts";
import { uniqueSteps } from "../lib/vit/graph.ts";
import type { HostTensor } from "../lib/backend/session.ts";
import { maxAbsDiff, randomPixels } from "./helpers/tiny_vit.ts";
import { tinyModel } from "./helpers/fixtures.ts";

const { bundle } = await tinyModel();
const prior = {
  model: "tiny_test_vit",
  grid: [8, 8] as [number, number],
  vector: Array.from({ length: 64 }, (_, i) => Math.cos(i)),
  suggestedTau: 1,
};
const per = 3 * 32 * 32;
const pixels = randomPixels(bundle.config, 2, 11);
const images = [pixels.subarray(0, per), pixels.subarray(per)];
const schedule = [6, 5, 0, 7];
const engine = new Engine(bundle, { backend: "wasm", prior, alpha: 0.5, segments: 3 });
/** Adaptive methods run at a threshold that merges some tokens. */
const thetaOf = (adaptive?: boolean): Record<string, HostTensor> =>
  adaptive ? { theta: { data: Float32Array.of(0.3), dims: [1] } } : {};

Deno.test("engine: the shared graph gives each method's own logits and tokens", async () => {
  for (const [name, method] of Object.entries(METHODS)) {
    const own = await Classifier.fromBundle(bundle, { backend: "wasm", method, prior, alpha: 0.5 });
    const { classifier, method: shared } = await engine.runner(name);
    const feeds = thetaOf(method.adaptive);
    const a = await own.run(images, schedule, feeds);
    const b = await classifier.run(images, schedule, feeds, shared);
    assert.deepEqual(b[0].tokens, a[0].tokens, name);
    for (let i = 0; i < 2; i++) {
      assert.ok(maxAbsDiff(a[i].logits, b[i].logits) < 1e-5, `${name}: image ${i}`);
    }
    await own.release();
  }
});

Deno.test("engine: a run in segments equals the run in one piece, with the schedule changed between them", async () => {
  for (const name of ["tome", "sadtm-dm", "adamerge", "evit"]) {
    const { classifier, method } = await engine.runner(name);
    const feeds = thetaOf(method!.adaptive);
    const whole = await classifier.run(images, [6, 5, 0, 2], feeds, method);
    const first = await classifier.runSegment(images, 3, schedule, feeds, method);
    assert.equal(first.logits, undefined);
    assert.deepEqual(first.state.tokens, whole[0].tokens.slice(0, 4));
    // Re-planned after block 3: the rest of the schedule differs from the first plan.
    const second = await classifier.runSegment(first.state, 4, [6, 5, 0, 2], feeds, method);
    assert.deepEqual(second.state.tokens, whole[0].tokens, name);
    for (let i = 0; i < 2; i++) {
      assert.ok(maxAbsDiff(whole[i].logits, second.logits![i]) < 1e-5, `${name}: image ${i}`);
    }
  }
});

Deno.test("engine: a method that cannot run says why; the others still run", async () => {
  const noPrior = new Engine(bundle, { backend: "wasm" });
  const sad = await noPrior.runner("sadtm");
  await assert.rejects(
    sad.classifier.run(images, schedule, {}, sad.method),
    /sadtm needs a saliency prior/,
  );
  const tome = await noPrior.runner("tome");
  const [out] = await tome.classifier.run(images, schedule, {}, tome.method);
  assert.ok(out.tokens.at(-1)! < out.tokens[0]);
  await noPrior.close();
  await engine.close();
});

Deno.test("engine: segments of a set length run between its multiples only", async () => {
  const c = await Classifier.fromBundle(bundle, {
    backend: "wasm",
    method: METHODS.tome,
    segments: 2,
  });
  const half = await c.runSegment(images, 2, schedule);
  const rest = await c.runSegment(half.state, 4, schedule);
  const [whole] = await c.run(images, schedule);
  assert.deepEqual(rest.state.tokens, whole.tokens);
  assert.ok(maxAbsDiff(whole.logits, rest.logits![0]) < 1e-5);
  await assert.rejects(c.runSegment(images, 1, schedule), /multiples of 2 blocks/);
  await c.release();
});

Deno.test("engine: per method, each session holds only its method's step and answers as the shared one", async () => {
  const shared = new Engine(bundle, { backend: "wasm", prior, alpha: 0.5, segments: 3 });
  const own = new Engine(bundle, {
    backend: "wasm",
    prior,
    alpha: 0.5,
    segments: 3,
    sessions: "per-method",
  });
  assert.equal(own.layout, "per-method");
  assert.equal(shared.layout, "shared");
  for (const name of ["none", "tome", "adamerge"]) {
    assert.equal(own.started(name), false);
    const a = await shared.runner(name);
    const b = await own.runner(name);
    assert.equal(own.started(name), true, name);
    assert.deepEqual(b.classifier.methods.map((m) => m.name), name === "none" ? [] : [name]);
    const feeds = thetaOf(b.method?.adaptive);
    const r = name === "none" ? [0, 0, 0, 0] : schedule;
    const [x] = await a.classifier.run(images, r, feeds, a.method);
    const [y] = await b.classifier.run(images, r, feeds, b.method);
    assert.deepEqual(y.tokens, x.tokens, name);
    assert.ok(maxAbsDiff(x.logits, y.logits) < 1e-5, name);
  }
  // The plain model has nothing to re-plan: it runs in one piece; merging methods in segments.
  assert.equal((await own.runner("none")).classifier.segmentLength, 0);
  assert.equal((await own.runner("tome")).classifier.segmentLength, 3);
  assert.equal(own.started("evit"), false);
  // A method that cannot start fails its own session only.
  const noPrior = new Engine(bundle, { backend: "wasm", sessions: "per-method" });
  await assert.rejects(noPrior.runner("sadtm"), /sadtm needs a saliency prior/);
  assert.equal(noPrior.started("sadtm"), false);
  assert.ok((await noPrior.runner("tome")).classifier);
  await noPrior.close();
  await own.close();
  await shared.close();
});

Deno.test("engine: SAD-TM and SAD-TM-DM share one step in the shared graph; bad segments are refused", async () => {
  // Seven methods, six steps: the two SAD-TMs differ only in their schedule.
  assert.equal(uniqueSteps(Object.values(METHODS)).length, 6);
  assert.equal(METHODS.sadtm.plan, METHODS["sadtm-dm"].plan);
  const segmented = await Classifier.fromBundle(bundle, {
    backend: "wasm",
    method: METHODS.tome,
    segments: 2,
  });
  const tome = METHODS.tome;
  await assert.rejects(segmented.runSegment(images, 6, schedule, {}, tome), /not at 6/);
  const first = await segmented.runSegment(images, 2, schedule, {}, tome);
  await assert.rejects(segmented.runSegment(first.state, 2, schedule, {}, tome), /not at 2/);
  await segmented.release();
  await assert.rejects(
    Classifier.fromBundle(bundle, { backend: "wasm", method: tome, segments: true, sources: true }),
    /exclude each other/,
  );
});
