// The budget: accuracy of any schedule, a timing model fitted to segments, the planner that
// re-plans a run in flight, the deadline queue, and what admission refuses.
import assert from "node:assert/strict";
import { AccuracyModel } from "../lib/budget/accuracy.ts";
import { Budget, type RunRequest, TRIAL_TIME_PRICE } from "../lib/budget/budget.ts";
import { BudgetMissError, NoPointsError } from "../lib/budget/errors.ts";
import { planRest, replan, startOf } from "../lib/budget/plan.ts";
import {
  checkPoints,
  defaultPoints,
  fromResolution,
  type OperatingPoint,
  PointsError,
  type PointsTable,
} from "../lib/budget/points.ts";
import { type SegmentFeatures, segmentMs, TimingModel, Window } from "../lib/budget/timing.ts";
import { atResolution, ResolutionError, type ViTConfig } from "../lib/checkpoint/config.ts";
import type { EvalRow } from "../lib/eval/evaluate.ts";
import { pointsFromEval } from "../lib/eval/points.ts";
import { blockGmacs, endsGmacs, gmacs } from "../lib/merge/cost.ts";
import { tome } from "../lib/merge/tome.ts";
import { Engine } from "../lib/runtime/engine.ts";
import type {
  Backlog,
  ClassifyJob,
  ClassifyResult,
  Inference,
  PlanModel,
  RunControl,
} from "../lib/runtime/jobs.ts";
import { runJob } from "../lib/runtime/jobs.ts";
import { DeadlineQueue, PATIENCE_MS } from "../lib/runtime/queue.ts";
import { scheduleForReduction, tokensPerBlock } from "../lib/merge/schedule.ts";
import { encodePng } from "../lib/image/encode.ts";
import { tinyModel } from "./helpers/fixtures.ts";
import { tinyConfig } from "./helpers/tiny_vit.ts";

/** A DeiT-Tiny-shaped config: 12 blocks of 197 tokens (what budgets plan for in production). */
const deit: ViTConfig = tinyConfig({
  imgSize: 224,
  patchSize: 16,
  embedDim: 192,
  depth: 12,
  numHeads: 3,
});
const FULL = gmacs(deit, tokensPerBlock(deit, undefined, Array(12).fill(0)));
/** ToMe's accuracy falls linearly from 0.8 unmerged to 0.6 at half the GMACs. */
const curve = [[FULL / 2, 0.6], [FULL, 0.8]] as const;
/** 10 ms per GMAC and nothing else: the unmerged run takes 10 * FULL ms. */
const model: PlanModel = {
  coef: [10, 0, 0, 0, 0, 0],
  factor: 1,
  ratios: [],
  kind: "constant",
  curve,
  segment: 3,
  price: 0,
  byChance: false,
};
const unmergedMs = 10 * (FULL - endsGmacs(deit));

const point = (method: string, g: number, top1?: number): OperatingPoint => ({
  method,
  schedule: [0],
  gmacs: g,
  reduction: 1 - g,
  ...(top1 !== undefined && { top1 }),
});

Deno.test("budget: expected top-1 interpolates each method's curve, extrapolates below it", () => {
  const acc = AccuracyModel.fromTable({
    model: "m",
    source: "t",
    points: [point("none", 1, 0.8), point("tome", 0.7, 0.78), point("tome", 0.5, 0.7)],
  });
  assert.deepEqual(acc.methods, ["none", "tome"]);
  assert.ok(Math.abs(acc.expected("tome", 0.85)! - 0.79) < 1e-12); // halfway to unmerged
  assert.ok(Math.abs(acc.expected("tome", 0.6)! - 0.74) < 1e-12);
  assert.ok(Math.abs(acc.expected("tome", 0.4)! - 0.66) < 1e-12); // along the last slope
  assert.equal(acc.expected("tome", 2), 0.8);
  assert.equal(acc.expected("evit", 0.9), undefined); // eval measured no EViT point
});

Deno.test("budget: the timing model fits per-segment costs; the tail comes from measured ratios", () => {
  const window = new Window(4);
  for (const x of [5, 1, 4, 2, 3]) window.add(x); // 5 fell out
  assert.equal(window.quantile(0.5), 2);
  assert.equal(window.quantile(1), 4);
  const truth = [8, 0.4, 0.3, 1.5, 0.2, 0.5];
  const timing = new TimingModel("wasm");
  assert.equal(timing.factor(0.9), 1.5); // no ratios yet: a prior factor
  for (let i = 0; i < 200; i++) {
    const blocks = 1 + (i % 3);
    const f: SegmentFeatures = {
      gmacs: 0.1 * blocks * (1 - (i % 5) / 10),
      blocks,
      merging: i % 4 === 0 ? 0 : Math.min(blocks, i % 3),
      embed: i % 4 === 0,
      head: i % 4 === 3,
      runs: 1,
    };
    // One run in ten is twice as slow (a noisy neighbour); the rest are exact.
    const slow = (Math.abs(Math.sin(i * 12.9898) * 43758.5453) % 1) < 0.1; // unrelated to f
    timing.observeSegment({ ...f, ms: segmentMs(truth, f) * (slow ? 2 : 1) });
  }
  const probe: SegmentFeatures = {
    gmacs: 0.3,
    blocks: 3,
    merging: 2,
    embed: true,
    head: false,
    runs: 1,
  };
  const predicted = timing.segment(probe), actual = segmentMs(truth, probe);
  // The fit is of the typical run: the slow ones do not pull it up.
  assert.ok(Math.abs(predicted / actual - 1) < 0.03, `predicted ${predicted} vs ${actual}`);
  const middle = predicted * timing.factor(0.5);
  assert.ok(Math.abs(middle / actual - 1) < 0.03, `median ${middle} vs ${actual}`);
  // The middle is near the typical run; the 95 % tail covers the slow ones.
  assert.ok(Math.abs(timing.factor(0.5) - 1) < 0.03, `median factor ${timing.factor(0.5)}`);
  assert.ok(timing.factor(0.95) > 1.3 * timing.factor(0.5), `tail factor ${timing.factor(0.95)}`);
  timing.observeDecode(1e6, 12);
  for (let i = 0; i < 10; i++) timing.observeDecode(2e6, 22);
  assert.ok(Math.abs(timing.decode(3e6) - 32) < 1e-6);
});

Deno.test("budget: the planner merges only as much as the time left needs", () => {
  const start = startOf(deit);
  const roomy = planRest(deit, tome, model, start, unmergedMs * 1.01);
  assert.ok(roomy.fits);
  assert.deepEqual(roomy.schedule, Array(12).fill(0));
  assert.ok(Math.abs(roomy.expected - 0.8) < 1e-9);
  const tight = planRest(deit, tome, model, start, unmergedMs * 0.7);
  assert.ok(tight.fits && tight.predictedMs <= unmergedMs * 0.7);
  assert.ok(tight.schedule.some((r) => r > 0));
  assert.ok(tight.expected < 0.8 && tight.expected > 0.6);
  // Just enough merges: one fewer would not fit.
  const tighter = planRest(deit, tome, model, start, unmergedMs * 0.6);
  assert.ok(tighter.schedule.reduce((a, b) => a + b) > tight.schedule.reduce((a, b) => a + b));
  const hopeless = planRest(deit, tome, model, start, 1);
  assert.equal(hopeless.fits, false); // the fastest spread, said not to fit
  assert.ok(hopeless.predictedMs <= tighter.predictedMs);
  // Never cheaper than the cheapest measured point: below it accuracy is a guess.
  assert.ok(hopeless.gmacs >= FULL / 2 - 1e-9 && hopeless.gmacs < FULL / 2 + 0.05);
  // A delayed method keeps the first tau blocks whole.
  const delayed = planRest(deit, tome, model, start, unmergedMs * 0.7, 4);
  assert.deepEqual(delayed.schedule.slice(0, 4), [0, 0, 0, 0]);
  // The tail factor makes the same time left ask for more merging.
  const cautious = planRest(deit, tome, { ...model, factor: 1.3 }, start, unmergedMs * 0.9);
  assert.ok(cautious.predictedMs * 1.3 <= unmergedMs * 0.9);
  assert.equal(planRest(deit, undefined, model, start, 1).fits, false); // unmerged cannot merge
  // With a spread of past ratios, a flat accuracy curve buys safety: fewer ms than fit barely.
  const flat = [[FULL / 2, 0.79], [FULL, 0.8]] as const;
  const ratios = Array.from({ length: 32 }, (_, i) => 0.8 + 0.4 * (i / 31));
  const risky = planRest(deit, tome, { ...model, curve: flat }, start, unmergedMs * 0.8);
  const safe = planRest(deit, tome, { ...model, curve: flat, ratios }, start, unmergedMs * 0.8);
  assert.ok(safe.predictedMs < risky.predictedMs, `${safe.predictedMs} vs ${risky.predictedMs}`);
  assert.ok(safe.score > 0.78 && safe.score <= safe.expected);
});

Deno.test("budget: where accuracy collapses, a likelier-late plan far more accurate wins", () => {
  const start = startOf(deit);
  // Accuracy falls from 0.8 unmerged to 0.2 at half the GMACs; runs take 0.9-1x the prediction,
  // one in eleven 1.5x (the tail factor).
  const steep = [[FULL / 2, 0.2], [FULL, 0.8]] as const;
  const ratios = [...Array.from({ length: 30 }, (_, i) => 0.9 + 0.1 * (i / 29)), 1.5, 1.5, 1.5];
  const spread = { ...model, curve: steep, ratios, factor: 1.5, byChance: true };
  // Before any ratio is known only plans that fit at the tail factor are ranked: a heavy one.
  const blind = planRest(deit, tome, { ...spread, ratios: [] }, start, unmergedMs);
  assert.ok(blind.fits && blind.expected < 0.7, `${blind.expected}`);
  // So too while others wait behind the run.
  const waited = planRest(deit, tome, { ...spread, byChance: false }, start, unmergedMs);
  assert.ok(waited.fits && waited.expected < 0.7, `${waited.expected}`);
  // With the ratios and nobody waiting, a lighter plan that makes it 10 times in 11 is worth more.
  const informed = planRest(deit, tome, spread, start, unmergedMs);
  assert.equal(informed.fits, false);
  assert.ok(informed.chance >= 0.5 && informed.chance < 1, `${informed.chance}`);
  assert.ok(informed.expected > blind.expected + 0.05, `${informed.expected}`);
  assert.ok(informed.score > waited.score, `${informed.score} vs ${waited.score}`);
  // A plan with no chance at all is never ranked: then the fastest.
  const hopeless = planRest(deit, tome, spread, start, 1);
  assert.equal(hopeless.chance, 0);
  assert.ok(hopeless.gmacs < FULL / 2 + 0.05);
});

Deno.test("budget: a price on time trades accuracy for speed only where it pays", () => {
  const start = startOf(deit);
  const roomy = unmergedMs * 1.01;
  // The curve gives up 0.2 of top-1 for half the GMACs at 10 ms each: 0.04 / FULL per ms.
  const slope = 0.04 / FULL;
  const cheap = planRest(deit, tome, { ...model, price: slope / 2 }, start, roomy);
  assert.deepEqual(cheap.schedule, Array(12).fill(0));
  assert.ok(Math.abs(cheap.score - (0.8 - (slope / 2) * unmergedMs)) < 1e-9);
  const dear = planRest(deit, tome, { ...model, price: slope * 2 }, start, roomy);
  assert.ok(dear.fits);
  // As far as the cheapest measured point, where the curve ends.
  assert.ok(dear.gmacs >= FULL / 2 - 1e-9 && dear.gmacs < FULL / 2 + 0.05, `${dear.gmacs}`);
  // The price ranks plans; it never makes one fit that does not.
  const tight = planRest(deit, tome, { ...model, price: slope / 2 }, start, unmergedMs * 0.7);
  assert.ok(tight.fits && tight.predictedMs <= unmergedMs * 0.7);
});

Deno.test("budget: re-planned in flight, a late run merges more and an early one less", () => {
  const control: RunControl = { model, tau: 0, reserveMs: 0, mayLighten: true };
  const planned = planRest(deit, tome, model, startOf(deit), unmergedMs * 0.8).schedule;
  // After 6 blocks as planned: where the run is, and what the rest would take as planned.
  const tokens = tokensPerBlock(deit, tome, planned);
  let spent = endsGmacs(deit);
  for (let l = 0; l < 6; l++) spent += blockGmacs(deit, tokens[l], tokens[l + 1]);
  const at = { block: 6, tokens: tokens[6], gmacs: spent };
  let restMs = 0;
  for (let l = 6; l < 12; l++) restMs += 10 * blockGmacs(deit, tokens[l], tokens[l + 1]);
  const merges = (s: number[]) => s.slice(6).reduce((a, b) => a + b, 0);
  const late = replan(deit, tome, control, at, restMs * 0.7)!;
  const early = replan(deit, tome, control, at, restMs * 1.5)!;
  const onTime = replan(deit, tome, control, at, restMs * 1.0001)!;
  assert.ok(merges(late) > merges(planned), `late ${late} vs planned ${planned}`);
  assert.ok(merges(early) < merges(planned), `early ${early} vs planned ${planned}`);
  assert.ok(merges(early) <= merges(onTime) && merges(onTime) <= merges(late));
  assert.deepEqual(late.slice(0, 6), Array(6).fill(0)); // blocks run are not planned again
});

for (const sessions of ["shared", "per-method"] as const) {
  Deno.test(`budget: runBatch re-plans between segments from the time left on its clock (${sessions} sessions)`, async () => {
    const { bundle } = await tinyModel();
    // Segments of 3 blocks: the tiny model's 4 blocks give one point to re-plan at.
    const engine = new Engine(bundle, { backend: "wasm", segments: 3, sessions });
    const image = encodePng(new Uint8Array(32 * 32 * 4).fill(200), 32, 32);
    const { config } = bundle;
    const full = gmacs(config, tokensPerBlock(config, undefined, Array(config.depth).fill(0)));
    const tiny: PlanModel = {
      coef: [1000, 0, 0, 0, 0, 0],
      factor: 1,
      ratios: [],
      kind: "constant",
      curve: [[full / 2, 0.5], [full, 0.8]],
      segment: 3,
      price: 0,
      byChance: false,
    };
    const lastBlockMs = 1000 * blockGmacs(config, 65, 65);
    /** A clock that jumps `segmentMs` during each segment (read before and after it). */
    const run = async (
      schedule: number[],
      segmentMs: number,
      leftAfter: number,
      mayLighten = true,
      othersWaiting = false,
      finishBy?: number,
    ) => {
      let now = 0, reads = 0;
      const clock = () => (reads++ % 3 === 1 ? (now += segmentMs) : now);
      const job: ClassifyJob = {
        method: "tome",
        schedule,
        topK: 1,
        image,
        deadline: segmentMs + leftAfter,
        control: { model: tiny, tau: 0, reserveMs: 0, mayLighten },
      };
      return await runJob(engine, job, {
        replan,
        clock,
        othersWaiting: () => othersWaiting,
        finishBy: () => finishBy,
      });
    };
    // Planned unmerged, but the first segment ate the time: the last block merges.
    const late = await run([0, 0, 0, 0], 50, lastBlockMs * 0.8);
    assert.deepEqual(late.planned, [0, 0, 0, 0]);
    assert.ok(late.schedule[3] > 0, `late ran ${late.schedule}`);
    assert.equal(late.replans, 1);
    assert.equal(late.replanDelta, late.schedule[3]);
    assert.deepEqual(late.segments.map((s) => [s.from, s.to, s.ms]), [[0, 3, 50], [3, 4, 50]]);
    assert.equal(late.tokens[4], 65 - late.schedule[3]);
    // Planned to merge hard at the end, but time is plentiful: it runs unmerged.
    const early = await run([0, 0, 0, 20], 1, lastBlockMs * 3);
    assert.deepEqual(early.schedule, [0, 0, 0, 0]);
    assert.equal(early.replanDelta, -20);
    // ... unless others waited when it started: their time is not spent on it.
    const crowded = await run([0, 0, 0, 20], 1, lastBlockMs * 3, false);
    assert.deepEqual(crowded.schedule, [0, 0, 0, 20]);
    // ... or others wait when it re-plans: a longer run would make them wait longer.
    const queued = await run([0, 0, 0, 20], 1, lastBlockMs * 3, true, true);
    assert.deepEqual(queued.schedule, [0, 0, 0, 20]);
    // Running late still merges more with others waiting.
    const lateQueued = await run([0, 0, 0, 0], 50, lastBlockMs * 0.8, true, true);
    assert.ok(lateQueued.schedule[3] > 0, `late with others waiting ran ${lateQueued.schedule}`);
    // On time for itself, but a job waiting needs it done sooner: it hurries for that one...
    const hurried = await run([0, 0, 0, 0], 1, lastBlockMs * 3, true, true, 1 + lastBlockMs * 0.9);
    assert.ok(hurried.schedule[3] > 0, `hurried ran ${hurried.schedule}`);
    assert.equal(hurried.replans, 1);
    // ... as far as the waiting job's time allows: a later one asks for less merging.
    const eased = await run([0, 0, 0, 0], 1, lastBlockMs * 3, true, true, 1 + lastBlockMs * 0.95);
    assert.ok(eased.schedule[3] < hurried.schedule[3], `${eased.schedule} vs ${hurried.schedule}`);
    // ... but not for a job it cannot help (no plan ends by 0.5): it plans for its own deadline.
    const hopeless = await run(
      [0, 0, 0, 0],
      1,
      lastBlockMs * 3,
      true,
      true,
      1 + lastBlockMs * 0.01,
    );
    assert.deepEqual(hopeless.schedule, [0, 0, 0, 0]);
    // A waiting job due after this one's own deadline changes nothing.
    const relaxed = await run([0, 0, 0, 0], 1, lastBlockMs * 3, true, true, 1 + lastBlockMs * 4);
    assert.deepEqual(relaxed.schedule, [0, 0, 0, 0]);
    // Without a re-planner the schedule stays as decided.
    const fixed = await runJob(engine, {
      method: "tome",
      schedule: [0, 0, 0, 0],
      topK: 1,
      image,
      deadline: 1,
      control: { model: tiny, tau: 0, reserveMs: 0, mayLighten: true },
    }, { clock: () => 1e9 });
    assert.deepEqual(fixed.schedule, [0, 0, 0, 0]);
    assert.equal(fixed.replans, 0);
    assert.equal(fixed.kind, undefined); // planned evenly: the answer names no ramp
    const ramp = await runJob(engine, {
      method: "tome",
      schedule: [0, 0, 0, 0],
      topK: 1,
      image,
      deadline: 1,
      control: { model: { ...tiny, kind: "linear" }, tau: 0, reserveMs: 0, mayLighten: true },
    }, { clock: () => 1e9 });
    assert.equal(ramp.kind, "linear");
    await engine.close();
  });
}

Deno.test("budget: the queue serves the earliest deadline first; unbudgeted jobs are due in a minute", () => {
  let now = 1000;
  const queue = new DeadlineQueue<string>(() => now);
  const job = (deadline?: number): ClassifyJob => ({
    method: "none",
    topK: 1,
    image: new Uint8Array(),
    ...(deadline !== undefined && { deadline }),
  });
  queue.push(job(1500), "c");
  queue.push(job(), "unbudgeted"); // due at 61 000
  queue.push(job(1200), "a");
  queue.push(job(1300), "b");
  queue.push(job(1200), "a2"); // same deadline: after the one that came first
  queue.push(job(1200), "retry", true); // a retry goes first among equals
  queue.push(job(62_000), "late-comer");
  const order: string[] = [];
  while (queue.length) order.push(queue.take().next!.handle);
  assert.deepEqual(order, ["retry", "a", "a2", "b", "c", "unbudgeted", "late-comer"]);
  queue.push(job(5), "gone");
  assert.ok(queue.remove("gone"));
  assert.equal(queue.length, 0);
  assert.equal(queue.take().next, undefined);
  // Nobody waits forever, and a job whose client left is not run.
  const left = new AbortController();
  queue.push({ ...job(), signal: left.signal }, "left");
  queue.push(job(), "patient");
  left.abort();
  now += PATIENCE_MS + 1;
  queue.push(job(), "fresh");
  const taken = queue.take();
  assert.equal(taken.next!.handle, "fresh");
  assert.deepEqual(taken.refused.map((r) => [r.handle, r.error.name]), [
    ["left", "ClientGoneError"],
    ["patient", "ExpiredError"],
  ]);
});

Deno.test("budget: a hopeless job is refused without running or waits behind feasible ones", () => {
  const queue = new DeadlineQueue<string>(() => 0);
  const decided = (hopeless: boolean) => () => ({
    method: "tome",
    schedule: [1],
    predictedMs: 1,
    ...(hopeless && { hopeless }),
  });
  const base = { method: "", topK: 1, image: new Uint8Array() };
  queue.push({ ...base, deadline: 1, decide: () => new BudgetMissError(5, 9) }, "refuse");
  queue.push({ ...base, deadline: 2, decide: decided(true) }, "hopeless");
  queue.push({ ...base, deadline: 3, decide: decided(false) }, "feasible");
  const first = queue.take();
  assert.deepEqual(first.refused.map((r) => r.handle), ["refuse"]);
  assert.ok(first.refused[0].error instanceof BudgetMissError);
  assert.equal(first.next!.handle, "feasible");
  assert.equal(first.next!.decided!.hopeless, undefined);
  const second = queue.take(); // only the hopeless best-effort job is left: now it runs
  assert.equal(second.next!.handle, "hopeless");
  assert.equal(second.next!.decided!.hopeless, true);
});

const evalRow = (method: string, n: number, top1: number, schedule = [3]): EvalRow => ({
  method,
  target_reduction: 0.3,
  schedule,
  gmacs: 0.7,
  match_gmacs: 0,
  reduction: 0.3,
  top1,
  top5: 1,
  agree_top1: 1,
  kl: 0,
  latency_ms_p50: 1,
  n,
  gmacs_p5: 0.7,
  gmacs_p50: 0.7,
  gmacs_p95: 0.7,
});

Deno.test("cli: points pools files; METHODS=FILE takes only those methods' rows", async () => {
  const dir = await Deno.makeTempDir();
  const none = { ...evalRow("none", 100, 0.8, [0]), gmacs: 1, reduction: 0 };
  const shipped = `${dir}/shipped.json`, variant = `${dir}/variant.json`, out = `${dir}/p.json`;
  await Deno.writeTextFile(shipped, JSON.stringify([none, evalRow("sadtm", 100, 0.5)]));
  await Deno.writeTextFile(variant, JSON.stringify([none, evalRow("sadtm", 100, 0.7)]));
  const points = async (...files: string[]) => {
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "lib/cli/points.ts", "--model", "m", "--out", out, ...files],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
    const table = JSON.parse(await Deno.readTextFile(out));
    return table.points.find((p: { method: string }) => p.method === "sadtm").top1;
  };
  assert.ok(Math.abs(await points(shipped, variant) - 0.6) < 1e-12, "both pooled");
  assert.ok(Math.abs(await points(`none=${shipped}`, variant) - 0.7) < 1e-12, "only the variant");
  // --base adds to an existing table: its points keep their top-1 and count.
  const base = `${dir}/base.json`;
  await Deno.writeTextFile(base, await Deno.readTextFile(out));
  const ramp = { ...evalRow("sadtm", 100, 0.9, [5]), schedule_kind: "linear" as const };
  await Deno.writeTextFile(variant, JSON.stringify([none, ramp]));
  const added = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "lib/cli/points.ts",
      "--model",
      "m",
      "--base",
      base,
      "--out",
      out,
      `sadtm=${variant}`,
    ],
    stderr: "piped",
  }).output();
  assert.equal(added.code, 0, new TextDecoder().decode(added.stderr));
  const table = checkPoints(JSON.parse(await Deno.readTextFile(out)), out);
  assert.deepEqual(table.points.map((p) => [p.method, p.kind, p.top1]), [
    ["none", undefined, 0.8],
    ["sadtm", undefined, 0.7],
    ["sadtm", "linear", 0.9],
  ]);
  const other = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "lib/cli/points.ts", "--model", "x", "--base", base, variant],
    stderr: "piped",
  }).output();
  assert.equal(other.code, 2);
  assert.match(new TextDecoder().decode(other.stderr), /holds m's points, not x's/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("budget: operating points from eval rows pool image sets; bad tables are refused", () => {
  const none = { ...evalRow("none", 100, 0.8, [0]), gmacs: 1, reduction: 0 };
  const t = pointsFromEval("m", [none, evalRow("tome", 100, 0.7), none, evalRow("tome", 300, 0.9)]);
  assert.equal(t.points.length, 2);
  const tome = t.points.find((p) => p.method === "tome")!;
  assert.ok(Math.abs(tome.top1! - 0.85) < 1e-12);
  assert.equal(tome.n, 400);
  assert.equal(t.points.find((p) => p.method === "none")!.n, 100); // the repeated row counts once
  // A family's points make their own curve; the even spread keeps the unmarked one.
  const ramp = { ...evalRow("tome", 100, 0.6, [6]), gmacs: 0.5, schedule_kind: "linear" as const };
  const both = pointsFromEval("m", [none, evalRow("tome", 100, 0.7), ramp]);
  assert.equal(both.points.find((p) => p.kind === "linear")?.top1, 0.6);
  const acc = AccuracyModel.fromTable(both);
  assert.deepEqual(acc.curve("tome", "linear"), [[0.5, 0.6], [1, 0.8]]);
  assert.deepEqual(acc.curve("tome"), [[0.7, 0.7], [1, 0.8]]);
  assert.throws(
    () => checkPoints({ ...both, points: [...both.points, { ...ramp, kind: "spiral" }] }, "x"),
    /unknown schedule family spiral/,
  );
  // A resolution's rows pool per set like any point, apart from the same schedule at its own.
  const low = (n: number, top1: number) => ({ ...evalRow("tome", n, top1), resolution: 160 });
  const sized = pointsFromEval("m", [
    none,
    evalRow("tome", 100, 0.7),
    low(100, 0.6),
    low(300, 0.8),
  ]);
  assert.deepEqual(
    sized.points.map((p) => [p.method, p.resolution, p.n]),
    [["none", undefined, 100], ["tome", undefined, 100], ["tome", 160, 400]],
  );
  assert.ok(Math.abs(sized.points[2].top1! - 0.75) < 1e-12);
  assert.deepEqual(fromResolution(sized, Infinity).points, sized.points.slice(0, 2));
  assert.deepEqual(fromResolution(sized, 160).points, sized.points);
  assert.deepEqual(fromResolution(sized, 161).points, sized.points.slice(0, 2));
  assert.throws(
    () =>
      checkPoints(
        { ...sized, points: [...sized.points, { ...sized.points[2], resolution: 1.5 }] },
        "x",
      ),
    /bad resolution/,
  );
  assert.throws(() => checkPoints({ model: "m", source: "s", points: [] }, "x"), PointsError);
  assert.throws(
    () => checkPoints({ model: "m", source: "s", points: [point("tome", 0.5)] }, "x"),
    /lack the unmerged point/,
  );
  assert.throws(
    () => checkPoints({ model: "m", source: "s", points: [point("magic", 0.5)] }, "x"),
    /unknown method "magic"/,
  );
  const d = defaultPoints(tinyConfig({ patchSize: 4, depth: 4 }));
  assert.equal(d.points[0].method, "none");
  assert.ok(d.points.slice(1).every((p, i) => p.method === "tome" && p.gmacs < d.points[i].gmacs));
});

/** An Inference that answers after `ms` with the schedule it was given (and records jobs). */
class FakeInference implements Inference {
  readonly backend = "fake";
  readonly workers = 1;
  readonly jobs: ClassifyJob[] = [];
  refusal() {
    return undefined;
  }
  backlogNow: Backlog = { running: [], queued: [], workers: 1 };
  constructor(readonly config: ViTConfig, readonly coldStart = false) {}
  get queueDepth() {
    return this.backlogNow.queued.length;
  }
  get running() {
    return this.backlogNow.running.length;
  }
  backlog(): Backlog {
    return this.backlogNow;
  }
  warm(): Promise<void> {
    return Promise.resolve();
  }
  drain(): Promise<void> {
    return Promise.resolve();
  }
  classify(job: ClassifyJob): Promise<ClassifyResult> {
    this.jobs.push(job);
    const schedule = job.schedule ?? Array(this.config.depth).fill(0);
    const at = atResolution(this.config, job.resolution ?? this.config.imgSize);
    const tokens = tokensPerBlock(at, tome, schedule);
    // A machine whose runs cost exactly TRUTH (see `segmentMs`) for what they compute.
    const work = tokens.slice(1).map((n, l) => blockGmacs(this.config, tokens[l], n));
    const inferMs = segmentMs(TRUTH, {
      gmacs: work.reduce((a, b) => a + b, 0),
      blocks: this.config.depth,
      merging: schedule.filter((r) => r > 0).length,
      embed: true,
      head: true,
      runs: 1,
    });
    return Promise.resolve({
      top: [],
      method: job.method,
      schedule,
      planned: schedule,
      replans: 0,
      replanDelta: 0,
      tokens,
      gmacs: gmacs(at, tokens),
      ...(job.resolution !== undefined && { resolution: job.resolution }),
      backend: "fake",
      decodeMs: 1,
      inferMs,
      segments: [{ from: 0, to: this.config.depth, ms: inferMs }],
      queueMs: 0,
      decodedAhead: false,
      batch: 1,
      coldStart: this.coldStart,
    });
  }
}

/** The fake machine's costs: 100 ms per GMAC, 0.5 per block, 0.3 per merge step, ... */
const TRUTH = [100, 0.5, 0.3, 1, 0.5, 0.4];
const tomePoint = (r: number, top1: number): OperatingPoint => {
  const schedule = Array(12).fill(r);
  const g = gmacs(deit, tokensPerBlock(deit, tome, schedule));
  return { method: "tome", schedule, gmacs: g, reduction: 1 - g / FULL, top1 };
};
const table: PointsTable = {
  model: "deit",
  source: "test",
  points: [
    { method: "none", schedule: Array(12).fill(0), gmacs: FULL, reduction: 0, top1: 0.8 },
    tomePoint(4, 0.78),
    tomePoint(8, 0.7),
    tomePoint(12, 0.6),
  ],
};

/** A best-effort request for a 0.1-megapixel image, admitted by `budget`. */
const admitBestEffort = (budget: Budget, budgetMs: number, arrived: number) =>
  budget.admit({ budgetMs, onMiss: "best_effort", pixels: 0.1e6, arrived });

/** A budget whose timing model has seen `calibrate` runs on a fake machine, and its clocks. */
async function calibrated(
  coldStart = false,
  points = table,
  timePrice?: number,
  outsideMs?: number,
) {
  const inference = new FakeInference(deit, coldStart);
  const clock = { now: 0 };
  const budget = new Budget(deit, points, inference, {
    segment: 3,
    timePrice,
    outsideMs: outsideMs ?? 0,
    now: () => clock.now,
    epoch: () => clock.now,
  });
  await budget.calibrate(20);
  return { budget, inference, clock };
}

Deno.test("budget: a cold session start is not a latency sample", async () => {
  const { budget } = await calibrated(true);
  assert.equal(budget.timing.observations, 0);
  assert.ok(budget.calibrated);
});

Deno.test("budget: calibration ends with budgeted rehearsals that teach and price nothing", async () => {
  const { budget, inference } = await calibrated(false, table, TRIAL_TIME_PRICE);
  const runs = 20 * table.points.length;
  // Calibration's own runs, then three rounds of one budgeted request per worker.
  assert.equal(inference.jobs.length, runs + 3);
  assert.ok(inference.jobs.slice(0, runs).every((j) => j.decide === undefined));
  assert.ok(inference.jobs.slice(runs).every((j) => j.decide && j.deadline !== undefined));
  // FakeInference answers one segment per job: the rehearsals added no sample.
  assert.equal(budget.timing.observations, runs);
  // Nor an arrival the time price would charge the first real runs for.
  assert.equal(budget.timePrice(), 0);
});

Deno.test("budget: the spreads kept between decisions follow each refit", async () => {
  const { budget, clock } = await calibrated();
  const full = budget.pointMs(table.points[0]);
  const decideAt = (budgetMs: number) => {
    const d = budget.admit({ budgetMs, onMiss: "best_effort", pixels: 0.1e6, arrived: clock.now })
      .decide!();
    assert.ok(!(d instanceof Error));
    return d;
  };
  for (const budgetMs of [0.6 * full, 0.8 * full, 1.2 * full]) {
    assert.deepEqual(decideAt(budgetMs), decideAt(budgetMs)); // kept: the same answer again
  }
  // The machine turns twice as slow; once refitted, the same budget gets a cheaper plan.
  const before = decideAt(1.2 * full);
  for (let i = 0; i < 40; i++) {
    const r = await new FakeInference(deit).classify({
      method: "none",
      topK: 1,
      image: new Uint8Array(),
    });
    budget.observe(
      { ...r, inferMs: 2 * r.inferMs, segments: [{ ...r.segments[0], ms: 2 * r.inferMs }] },
      0.1e6,
      2 * r.inferMs + 2,
    );
  }
  const after = decideAt(1.2 * full);
  const merges = (d: { schedule: number[] }) => d.schedule.reduce((a, b) => a + b, 0);
  assert.ok(merges(after) > merges(before), `${after.schedule} vs ${before.schedule}`);
});

Deno.test("budget: decided late, from the time left when a worker takes the job", async () => {
  const { budget, clock } = await calibrated();
  const full = budget.pointMs(table.points[0]);
  const least = budget.leastMs(0.1e6);
  assert.ok(least > 0.3 * full && least < full, `least ${least} of ${full}`);
  const plan = budget.admit({
    budgetMs: 3 * full,
    onMiss: "best_effort",
    pixels: 0.1e6,
    arrived: clock.now,
  });
  assert.equal(plan.deadline, 3 * full);
  const decide = () => {
    const d = plan.decide!();
    assert.ok(!(d instanceof Error));
    return d;
  };
  // Taken at once, with time to spare: unmerged.
  assert.equal(decide().method, "none");
  // Taken after a wait, with less time left than unmerged needs: merged, re-planned in flight.
  clock.now = 3 * full - (least + full) / 2;
  const later = decide();
  assert.equal(later.method, "tome");
  assert.ok(later.schedule.some((r) => r > 0));
  assert.equal(later.control?.model.segment, 3); // it carries what re-planning in flight needs
  assert.ok(!later.hopeless);
  // The same moment with the image decoded while it waited: the decode's time is not planned
  // for, so the plan may merge less.
  const decoded = plan.decide!(undefined, true);
  assert.ok(!(decoded instanceof Error));
  const merges = (d: { schedule: number[] }) => d.schedule.reduce((a, b) => a + b, 0);
  assert.ok(merges(decoded) <= merges(later), `${decoded.schedule} vs ${later.schedule}`);
  const decodeMs = budget.timing.decode(0.1e6);
  assert.ok(decodeMs > 0);
  assert.ok(Math.abs(budget.leastMs(0.1e6, true) - (least - decodeMs)) < 1e-9);
  // Past the point where anything fits: best effort runs the cheapest, marked hopeless.
  clock.now = 3 * full - least / 2;
  assert.ok(decide().hopeless);
  assert.throws(
    () => budget.admit({ budgetMs: 1, onMiss: "reject", method: "evit", pixels: 1, arrived: 0 }),
    NoPointsError,
  );
});

Deno.test("budget: under a stream of arrivals a roomy budget runs a faster plan", async () => {
  // Without a price the fake backend gets the default of a backend other than wasm: none.
  for (const timePrice of [TRIAL_TIME_PRICE, undefined]) {
    const { budget, clock } = await calibrated(false, table, timePrice);
    const full = budget.pointMs(table.points[0]);
    const decideNow = () => {
      const plan = budget.admit({
        budgetMs: 3 * full,
        onMiss: "best_effort",
        pixels: 0.1e6,
        arrived: clock.now,
      });
      const d = plan.decide!();
      assert.ok(!(d instanceof Error));
      return d;
    };
    assert.equal(decideNow().method, "none"); // idle: the most accurate that fits
    // One request every full / 2 ms, for a minute: twice what unmerged runs could serve.
    for (let t = 0; t < 60_000; t += full / 2) {
      clock.now = t;
      budget.admit({ budgetMs: 3 * full, onMiss: "best_effort", pixels: 0.1e6, arrived: t });
    }
    const perS = budget.describeTiming().arrivals_per_s;
    assert.ok(Math.abs(perS - 2000 / full) < 0.05 * (2000 / full), `${perS} per s`);
    const busy = decideNow();
    if (timePrice === undefined) { // accuracy alone
      assert.equal(budget.timePrice(), 0);
      assert.equal(busy.method, "none");
      continue;
    }
    assert.ok(Math.abs(budget.timePrice() - timePrice * (2 / full)) < 0.1 * (1 / full));
    assert.notEqual(busy.method, "none");
    assert.ok(busy.predictedMs < full, `${busy.predictedMs} vs ${full}`);
    assert.equal(busy.control?.model.price, budget.timePrice()); // re-plans in flight price alike
    // A minute of silence: the price is gone.
    clock.now += 60_000;
    assert.ok(budget.timePrice() < 1e-6);
  }
});

Deno.test("budget: on_miss=reject refuses only what no schedule can meet", async () => {
  const { budget, clock, inference } = await calibrated();
  const least = budget.leastMs(0.1e6);
  const ask = (budgetMs: number) =>
    budget.admit({ budgetMs, onMiss: "reject", pixels: 0.1e6, arrived: clock.now });
  assert.throws(() => ask(least * 0.9), (e: unknown) => {
    assert.ok(e instanceof BudgetMissError);
    assert.ok(Math.abs(e.minimumMs - least) < 1e-6);
    return true;
  });
  const feasible = ask(least * 1.05); // just feasible: admitted, and decided to run
  const decided = feasible.decide!();
  assert.ok(!(decided instanceof Error) && !decided.hopeless);
  // A job ahead on the only worker makes the same budget infeasible.
  inference.backlogNow = { running: [{ elapsedMs: 0, serviceMs: least }], queued: [], workers: 1 };
  assert.throws(() => ask(least * 1.05), BudgetMissError);
  inference.backlogNow = { running: [], queued: [], workers: 1 };
  // Admitted, but by the time a worker is free the deadline is out of reach: refused unrun.
  const waited = ask(least * 1.5);
  clock.now += least;
  assert.ok(waited.decide!() instanceof BudgetMissError);
});

Deno.test("budget: the time outside the server's view comes off every budget", async () => {
  const { budget, clock } = await calibrated(false, table, undefined, 2);
  const plain = await calibrated();
  assert.equal(budget.describeTiming().outside_ms, 2);
  assert.equal(plain.budget.describeTiming().outside_ms, 0);
  const ask = (b: Budget, budgetMs: number, onMiss: "best_effort" | "reject" = "best_effort") =>
    b.admit({ budgetMs, onMiss, pixels: 0.1e6, arrived: clock.now });
  assert.equal(ask(budget, 100).deadline, 98);
  assert.equal(ask(plain.budget, 100).deadline, 100);
  // What the server alone could meet is refused once the outside time is counted.
  const least = budget.leastMs(0.1e6);
  assert.ok(ask(plain.budget, least + 1, "reject").deadline! > 0);
  assert.throws(() => ask(budget, least + 1, "reject"), (e: unknown) => {
    assert.ok(e instanceof BudgetMissError);
    assert.ok(Math.abs(e.minimumMs - (least + 2)) < 1e-6, `${e.minimumMs} vs ${least + 2}`);
    return true;
  });
  // A budget is planned as the budget 2 ms shorter without it.
  const full = budget.pointMs(table.points[0]);
  for (const b of [full * 0.7, full * 0.9, full * 1.2]) {
    const a = ask(budget, b).decide!();
    const c = ask(plain.budget, b - 2).decide!();
    assert.ok(!(a instanceof Error) && !(c instanceof Error));
    assert.equal(a.method, c.method, `${b} ms`);
    assert.deepEqual(a.schedule, c.schedule, `${b} ms`);
  }
});

Deno.test("budget: plans spread in every family the table measured; re-plans keep theirs", async () => {
  // The planner alone: a linear plan front-loads its merges, and so does its re-plan.
  const ramp: PlanModel = { ...model, kind: "linear" };
  const plan = planRest(deit, tome, ramp, startOf(deit), unmergedMs * 0.6);
  assert.ok(plan.fits && plan.schedule[0] > plan.schedule[11], `${plan.schedule}`);
  assert.ok(
    plan.schedule.every((r, l) => l === 0 || r <= plan.schedule[l - 1]),
    `${plan.schedule}`,
  );
  const tokens = tokensPerBlock(deit, tome, plan.schedule);
  let spent = endsGmacs(deit);
  for (let l = 0; l < 6; l++) spent += blockGmacs(deit, tokens[l], tokens[l + 1]);
  const control: RunControl = { model: ramp, tau: 0, reserveMs: 0, mayLighten: true };
  const rest = replan(deit, tome, control, { block: 6, tokens: tokens[6], gmacs: spent }, 1)!;
  assert.ok(rest.slice(6).every((r, l) => l === 0 || r <= rest[6 + l - 1]), `${rest}`);
  assert.ok(rest[6] > rest[11], `${rest}`);
  // An alternate plan merges in even blocks only, and so does its re-plan.
  const strided: PlanModel = { ...model, kind: "alternate-linear" };
  const even = planRest(deit, tome, strided, startOf(deit), unmergedMs * 0.6);
  const odd = (schedule: number[]) => schedule.filter((_, l) => l % 2 === 1);
  assert.ok(even.fits && even.schedule[0] > even.schedule[10], `${even.schedule}`);
  assert.ok(odd(even.schedule).every((r) => r === 0), `${even.schedule}`);
  const stridedRest = replan(
    deit,
    tome,
    { ...control, model: strided },
    { block: 6, tokens: tokens[6], gmacs: spent },
    1,
  )!;
  assert.ok(stridedRest[6] > 0 && odd(stridedRest).every((r) => r === 0), `${stridedRest}`);

  // The budget: linear points more accurate than the even ones at the same cheap costs.
  const linearPoint = (like: OperatingPoint, top1: number): OperatingPoint => {
    const schedule = scheduleForReduction(deit, tome, like.reduction, { kind: "linear" });
    const g = gmacs(deit, tokensPerBlock(deit, tome, schedule));
    return { method: "tome", kind: "linear", schedule, gmacs: g, reduction: 1 - g / FULL, top1 };
  };
  const withRamp: PointsTable = {
    ...table,
    points: [
      ...table.points,
      linearPoint(table.points[2], 0.75),
      linearPoint(table.points[3], 0.7),
    ],
  };
  const { budget, clock } = await calibrated(false, withRamp);
  const g = withRamp.points[4].gmacs;
  assert.ok(
    budget.accuracy.expected("tome", g, "linear")! > budget.accuracy.expected("tome", g)! + 0.04,
  );
  const least = budget.leastMs(0.1e6);
  const admitted = admitBestEffort(budget, 10 * least, 0);
  clock.now = 10 * least - 1.3 * least; // little time left: a cheap plan, where the ramp wins
  const tight = admitted.decide!();
  assert.ok(!(tight instanceof Error) && !tight.hopeless);
  assert.equal(tight.method, "tome");
  assert.equal(tight.control?.model.kind, "linear");
  assert.deepEqual(tight.control?.model.curve, budget.accuracy.curve("tome", "linear"));
  assert.ok(tight.schedule[0] > tight.schedule[11], `${tight.schedule}`);
  // With time to spare nothing needs merging, whatever the family.
  const roomy = admitBestEffort(budget, 10 * least, clock.now);
  const none = roomy.decide!();
  assert.ok(!(none instanceof Error) && none.method === "none");
});

Deno.test("budget: a job is asked to leave time for the deadlines waiting behind it", () => {
  const queue = new DeadlineQueue<string>(() => 100);
  const limits: (number | undefined)[] = [];
  const base = { method: "", topK: 1, image: new Uint8Array() };
  const decide = (limitMs?: number) => {
    limits.push(limitMs);
    return { method: "tome", schedule: [1], predictedMs: 1 };
  };
  queue.push({ ...base, deadline: 200, decide }, "first");
  queue.push({ ...base, deadline: 250, serviceMs: 40, decide }, "second");
  queue.push({ ...base, deadline: 400, serviceMs: 40, decide }, "third");
  // What a running job is asked to leave: the first waiting one's 200 - 0 (no service known).
  assert.equal(queue.finishBy(), 200);
  assert.equal(queue.take().next!.handle, "first");
  // Epoch times, the same whenever read: second's 250 - 40, third's 400 - 40 - 40.
  assert.equal(queue.finishBy(), 210);
  // second: 250 - 100 - 40 = 110; third: 400 - 100 - 40 (second first) - 40 = 220.
  assert.deepEqual(limits, [110]);
  queue.take();
  assert.deepEqual(limits, [110, 260]);
  queue.take();
  assert.deepEqual(limits, [110, 260, undefined]);
  assert.equal(queue.finishBy(), undefined); // nothing waits
  // Unbudgeted jobs ask nothing, but their service still delays those behind them.
  queue.push({ ...base, serviceMs: 30 }, "unbudgeted");
  queue.push({ ...base, deadline: 70_000, serviceMs: 20, decide }, "budgeted");
  assert.equal(queue.finishBy(), 70_000 - 30 - 20); // behind the unbudgeted one, due at 60 100
});

Deno.test("budget: the least time follows the timing model as it refits", async () => {
  const { budget } = await calibrated();
  const before = budget.leastMs(0.1e6);
  assert.equal(budget.leastMs(0.1e6), before);
  // The machine slows down threefold: once the model refits, the least time grows with it.
  const features = { gmacs: 0.5, blocks: 6, merging: 6, embed: true, head: false, runs: 1 };
  for (let i = 0; i < 64; i++) {
    budget.timing.observeSegment({ ...features, ms: 3 * budget.timing.segment(features) });
  }
  const after = budget.leastMs(0.1e6);
  assert.ok(after > 1.5 * before - 1, `${after} vs ${before}`);
});

Deno.test("budget: a tight budget gets the lower resolution where its points are better", async () => {
  // Points at 160 pixels (100 patches): more accurate than the own resolution's at the same
  // cheap costs, as measured on DeiT-Tiny (docs/RESULTS.md, "Fewer patches").
  const lowPoint = (r: number, top1: number): OperatingPoint => {
    const at = atResolution(deit, 160);
    const schedule = Array(12).fill(r);
    const g = gmacs(at, tokensPerBlock(at, tome, schedule));
    return { method: "tome", resolution: 160, schedule, gmacs: g, reduction: 1 - g / FULL, top1 };
  };
  const withLow: PointsTable = {
    ...table,
    points: [...table.points, lowPoint(0, 0.75), lowPoint(3, 0.72), lowPoint(5, 0.68)],
  };
  const { budget, clock, inference } = await calibrated(false, withLow);
  assert.ok(inference.jobs.some((j) => j.resolution === 160), "calibration runs the points");
  const least = budget.leastMs(0.1e6);
  const admitted = admitBestEffort(budget, 10 * least, 0);
  clock.now = 10 * least - 1.3 * least; // little time left: a cheap plan
  const tight = admitted.decide!();
  assert.ok(!(tight instanceof Error) && !tight.hopeless);
  assert.equal(tight.resolution, 160);
  // Its re-plans between segments plan the same resolution's tokens.
  assert.equal(tight.control?.model.resolution, 160);
  assert.deepEqual(tight.control?.model.curve, budget.accuracy.curve("tome", "constant", 160));
  const at = atResolution(deit, 160);
  const rest = replan(
    deit,
    tome,
    tight.control!,
    { block: 6, tokens: 101, gmacs: endsGmacs(at) + 6 * blockGmacs(at, 101, 101) },
    1,
  )!;
  assert.ok(rest.slice(6).some((r) => r > 0), `${rest}`);
  assert.ok(rest.slice(6).every((r) => r <= 100), `${rest}`);
  // With time to spare: the own resolution, unmerged.
  const roomy = admitBestEffort(budget, 10 * least, clock.now).decide!();
  assert.ok(!(roomy instanceof Error));
  assert.equal(roomy.resolution, undefined);
  // A table of resolutions the model cannot take is refused when the budget is made.
  const bad = { ...table, points: [...table.points, { ...lowPoint(0, 0.7), resolution: 150 }] };
  assert.throws(
    () => new Budget(deit, bad, new FakeInference(deit), { segment: 3 }),
    ResolutionError,
  );
});

Deno.test("budget: unbudgeted requests at one fixed point share a batch key; adaptive ones run alone", async () => {
  const { budget } = await calibrated();
  const ask = (more: Partial<RunRequest>) =>
    budget.admit({ onMiss: "best_effort", pixels: 0.1e6, arrived: 0, ...more });
  const key = (more: Partial<RunRequest>) => ask(more).batchKey;
  assert.equal(key({}), key({ method: "none" }));
  assert.equal(key({ method: "tome", reduction: 0.3 }), key({ reduction: 0.3 }));
  assert.notEqual(key({ method: "tome", reduction: 0.3 }), key({ method: "tome", reduction: 0.4 }));
  assert.notEqual(key({ method: "tome", reduction: 0.3 }), key({ method: "evit", reduction: 0.3 }));
  assert.notEqual(key({ method: "tome" }), key({ method: "tome", resolution: 16 }));
  assert.notEqual(key({ schedule: [1, 0] }), key({ schedule: [0, 1] }));
  assert.equal(key({ method: "adamerge", reduction: 0.3 }), undefined);
  assert.equal(key({ budgetMs: 1000 }), undefined); // decided when a worker takes it, alone
  assert.equal(key({ method: "tome", reduction: 0.3, explain: true }), undefined);
  // A threshold asked for reaches the run on every unbudgeted path.
  assert.equal(ask({ method: "adamerge", reduction: 0.3, theta: 0.7 }).theta, 0.7);
  assert.equal(ask({ method: "adamerge", schedule: [1, 1], theta: 0.7 }).theta, 0.7);
});
