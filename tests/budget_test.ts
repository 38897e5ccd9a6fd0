import assert from "node:assert/strict";
import { BudgetMissError, choosePoint, NoPointsError, paretoFront } from "../lib/budget/choose.ts";
import { Budget } from "../lib/budget/budget.ts";
import { COVERAGE, LatencyModel, RunningStat } from "../lib/budget/latency.ts";
import type { Backlog } from "../lib/runtime/jobs.ts";
import { pointsFromEval } from "../lib/eval/points.ts";
import {
  checkPoints,
  defaultPoints,
  type OperatingPoint,
  PointsError,
  type PointsTable,
} from "../lib/budget/points.ts";
import type { EvalRow } from "../lib/eval/evaluate.ts";
import type { ClassifyJob, ClassifyResult, Inference } from "../lib/runtime/jobs.ts";
import { tinyConfig } from "./helpers/tiny_vit.ts";

const point = (method: string, gmacs: number, top1?: number): OperatingPoint => ({
  method,
  schedule: [Math.round(10 * (1 - gmacs))],
  gmacs,
  reduction: 1 - gmacs,
  ...(top1 !== undefined && { top1 }),
});

const table: PointsTable = {
  model: "m",
  source: "test",
  points: [point("none", 1, 0.8), point("tome", 0.7, 0.79), point("tome", 0.5, 0.7)],
};

/** A model that has seen each point run in `msPerGmac * gmacs`, decode 5 ms, no overhead. */
function trained(msPerGmac: number, spread = 0): LatencyModel {
  const model = new LatencyModel("wasm");
  for (let i = 0; i < 10; i++) {
    for (const p of table.points) {
      model.observe({
        point: p,
        pixels: 0.9e6,
        decodeMs: 5,
        inferMs: msPerGmac * p.gmacs + (i % 2 ? spread : -spread),
        overheadMs: 0,
        batch: 1,
      });
    }
  }
  return model;
}

const idle = { running: [], queued: [], workers: 1 };
/** `n` jobs that started `ms` ago, of unknown service time. */
const runningFor = (...ms: number[]) => ms.map((elapsedMs) => ({ elapsedMs }));
const request = { onMiss: "best_effort" as const, pixels: 0.9e6, backlog: idle };

Deno.test("budget: running stat tracks mean and spread; the upper bound covers the spread", () => {
  const s = new RunningStat();
  for (let i = 0; i < 200; i++) s.add(i % 2 ? 12 : 8);
  assert.ok(Math.abs(s.mean - 10) < 0.5, `mean ${s.mean}`);
  assert.ok(Math.abs(Math.sqrt(s.variance) - 2) < 0.3, `sd ${Math.sqrt(s.variance)}`);
  assert.ok(s.upper() > 14 && s.upper() < 16);
  const flat = new RunningStat();
  for (let i = 0; i < 5; i++) flat.add(10);
  assert.equal(flat.upper(), 11); // at least 10 % over the mean
});

Deno.test("budget: the latency model predicts per point, guesses unseen ones from GMACs, and queues", () => {
  const model = trained(100);
  assert.ok(Math.abs(model.infer(table.points[1])!.mean - 70) < 1e-6);
  const unseen = point("pitome", 0.6);
  assert.ok(Math.abs(model.infer(unseen)!.mean - 60) < 1e-6);
  assert.equal(new LatencyModel("wasm").infer(unseen), undefined);
  assert.equal(model.queue(idle).mean, 0);
  assert.equal(model.queue({ running: runningFor(5), queued: [], workers: 2 }).mean, 0);
  // A job just started on the only worker: a whole service ahead; later, what is left of it.
  const service = model.queue({ running: runningFor(0), queued: [], workers: 1 }).mean;
  assert.ok(service > 50 && service < 110, `service ${service}`);
  assert.equal(model.queue({ running: runningFor(20), queued: [], workers: 1 }).mean, service - 20);
  assert.equal(model.queue({ running: runningFor(1e6), queued: [], workers: 1 }).mean, 0);
  // Two busy workers and two queued jobs: (2 + 2) services shared by 2 workers.
  const two = { running: runningFor(0, 0), queued: [{}, {}], workers: 2 };
  assert.equal(model.queue(two).mean, 2 * service);
  const q = model.queue({ running: runningFor(0), queued: [{}], workers: 1 });
  assert.ok(q.upper > q.mean);
  // Jobs that carry their predicted service count that instead of a typical one.
  const cheap = { mean: 10, upper: 15 };
  const known = {
    running: [{ elapsedMs: 4, serviceTime: cheap }],
    queued: [{ serviceTime: cheap }],
  };
  assert.deepEqual(model.queue({ ...known, workers: 1 }), { mean: 16, upper: 26 });
  const own = model.serviceTime(table.points[2], 0.9e6)!;
  assert.ok(Math.abs(own.mean - 55) < 1e-6, `service ${own.mean}`);
  const total = model.total(table.points[0], 0.9e6, idle)!;
  assert.ok(Math.abs(total.mean - 105) < 1e-6, `total ${total.mean}`);
});

Deno.test("budget: choose the most accurate point that fits, else the cheapest or a refusal", () => {
  const model = trained(100, 3);
  const pick = (budgetMs: number, extra = {}) =>
    choosePoint(table, model, { ...request, budgetMs, ...extra });
  assert.equal(pick(1000).point.method, "none");
  assert.ok(pick(1000).fits);
  const mid = pick(90);
  assert.equal(mid.point.gmacs, 0.7);
  assert.ok(mid.predicted!.upper <= 90);
  assert.equal(pick(65).point.gmacs, 0.5);
  const miss = pick(10);
  assert.equal(miss.point.gmacs, 0.5);
  assert.equal(miss.fits, false);
  assert.throws(() => pick(10, { onMiss: "reject" }), (e: unknown) => {
    assert.ok(e instanceof BudgetMissError);
    assert.ok(e.minimumMs > 55 && e.minimumMs < 70, `minimum ${e.minimumMs}`);
    return true;
  });
  // A queue ahead makes the same budget need a cheaper point.
  assert.equal(pick(150).point.method, "none");
  const busy = { running: runningFor(0), queued: [], workers: 1 };
  assert.ok(pick(150, { backlog: busy }).point.gmacs < 1);
  assert.equal(pick(1000, { method: "tome" }).point.gmacs, 0.7);
  assert.throws(() => pick(1000, { method: "evit" }), NoPointsError);
  // Nothing observed yet: the cheapest point, with no prediction.
  const cold = choosePoint(table, new LatencyModel("wasm"), { ...request, budgetMs: 1000 });
  assert.equal(cold.point.gmacs, 0.5);
  assert.equal(cold.predicted, undefined);
});

Deno.test("budget: operating points from eval rows pool image sets; bad tables are refused", () => {
  const row = (method: string, n: number, top1: number, schedule = [3]): EvalRow => ({
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
  const none = { ...row("none", 100, 0.8, [0]), gmacs: 1, reduction: 0 };
  const t = pointsFromEval("m", [none, row("tome", 100, 0.7), none, row("tome", 300, 0.9)]);
  assert.equal(t.points.length, 2);
  const tome = t.points.find((p) => p.method === "tome")!;
  assert.ok(Math.abs(tome.top1! - 0.85) < 1e-12);
  assert.equal(tome.n, 400);
  assert.equal(t.points.find((p) => p.method === "none")!.n, 100); // the repeated row counts once
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

Deno.test("budget: the upper bound is rescaled so that COVERAGE of recent answers fall under it", () => {
  const model = trained(100, 3);
  const p = table.points[1];
  const before = model.total(p, 0.9e6, idle)!;
  assert.equal(model.scale, 1); // too few answers yet: the component bound as it is
  assert.ok(Math.abs(before.upper - before.mean - before.spread) < 1e-9);
  const answer = (errorInSpreads: number) => {
    const predicted = model.total(p, 0.9e6, idle)!;
    model.observe({
      point: p,
      pixels: 0.9e6,
      decodeMs: 5,
      inferMs: 70,
      overheadMs: 0,
      batch: 1,
      totalMs: predicted.mean + errorInSpreads * predicted.spread,
      predicted,
    });
  };
  // Answers far slower than the components say (a noisy neighbour): the bound widens to cover
  // all but the slowest 1 %.
  for (let i = 0; i < 200; i++) answer(i < 196 ? 2 * (i / 196) : 6);
  assert.ok(model.scale > 1.9 && model.scale <= 6, `scale ${model.scale}`);
  const wide = model.total(p, 0.9e6, idle)!;
  assert.ok(Math.abs(wide.upper - wide.mean - model.scale * wide.spread) < 1e-9);
  // Answers as predicted: the bound shrinks towards the mean, never below it.
  for (let i = 0; i < 400; i++) answer(-0.5);
  assert.equal(model.scale, 0);
  assert.ok(COVERAGE > 0.95 && COVERAGE < 1);
});

/** An Inference whose jobs take `ms` and are recorded. */
class FakeInference implements Inference {
  readonly backend = "fake";
  readonly workers = 1;
  readonly jobs: ClassifyJob[] = [];
  busy = false;
  constructor(readonly ms: number, readonly coldStart = false) {}
  get queueDepth() {
    return 0;
  }
  get running() {
    return this.busy ? 1 : 0;
  }
  backlog(): Backlog {
    return { running: this.busy ? [{ elapsedMs: 0 }] : [], queued: [], workers: 1 };
  }
  warm(): Promise<void> {
    return Promise.resolve();
  }
  drain(): Promise<void> {
    return Promise.resolve();
  }
  async classify(job: ClassifyJob): Promise<ClassifyResult> {
    this.jobs.push(job);
    await new Promise((r) => setTimeout(r, this.ms));
    const point = table.points.find((p) => p.schedule[0] === job.schedule?.[0])!;
    return {
      top: [],
      schedule: job.schedule!,
      tokens: [1],
      gmacs: point.gmacs,
      backend: "fake",
      decodeMs: 0.1,
      inferMs: this.ms,
      queueMs: 0,
      batch: 1,
      coldStart: this.coldStart,
    };
  }
}

Deno.test("budget: a cold session start is not a latency sample", async () => {
  const budget = new Budget(table, new FakeInference(1, true));
  await budget.calibrate(2);
  assert.equal(budget.latency.observations, 0);
  assert.ok(budget.calibrated);
});

Deno.test("budget: refusing while idle and stale probes the cheapest point, once per second", async () => {
  const inference = new FakeInference(1);
  const budget = new Budget(table, inference);
  await budget.calibrate(3);
  const calibration = inference.jobs.length;
  assert.equal(calibration, 9);
  const refuse = () =>
    assert.throws(
      () => budget.decide({ ...request, onMiss: "reject", budgetMs: 0.01 }),
      BudgetMissError,
    );
  refuse(); // the model has just learnt: no probe
  assert.equal(inference.jobs.length, calibration);
  await new Promise((r) => setTimeout(r, 1100));
  inference.busy = true;
  refuse(); // busy: no probe
  assert.equal(inference.jobs.length, calibration);
  inference.busy = false;
  refuse();
  refuse(); // one probe at a time
  assert.equal(inference.jobs.length, calibration + 1);
  assert.deepEqual(inference.jobs.at(-1)!.schedule, table.points[2].schedule);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(budget.latency.observations, calibration + 1);
  refuse(); // just probed
  assert.equal(inference.jobs.length, calibration + 1);
});

Deno.test("budget: dominated points never compete, so the fallback is not chosen by noise", () => {
  const awful = point("sadtm-dm", 0.5, 0.09); // as cheap as tome 0.5, far less accurate
  const t = { ...table, points: [...table.points, awful] };
  assert.deepEqual(paretoFront(t.points), table.points);
  const model = trained(100, 3);
  // Make the awful point look a hair faster: the fallback still takes the accurate one.
  for (let i = 0; i < 10; i++) {
    model.observe({
      point: awful,
      pixels: 0.9e6,
      decodeMs: 5,
      inferMs: 49,
      overheadMs: 0,
      batch: 1,
    });
  }
  const miss = choosePoint(t, model, { ...request, budgetMs: 1 });
  assert.equal(miss.point.method, "tome");
});
