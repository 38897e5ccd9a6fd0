import assert from "node:assert/strict";
import { BudgetMissError, choosePoint, NoPointsError } from "../lib/budget/choose.ts";
import { LatencyModel, RunningStat } from "../lib/budget/latency.ts";
import {
  checkPoints,
  defaultPoints,
  type OperatingPoint,
  PointsError,
  pointsFromEval,
  type PointsTable,
} from "../lib/budget/points.ts";
import type { EvalRow } from "../lib/eval/evaluate.ts";
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

const idle = { runningMs: [], queued: 0, workers: 1 };
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
  assert.equal(model.queue({ runningMs: [5], queued: 0, workers: 2 }).mean, 0);
  // A job just started on the only worker: a whole service ahead; later, what is left of it.
  const service = model.queue({ runningMs: [0], queued: 0, workers: 1 }).mean;
  assert.ok(service > 50 && service < 110, `service ${service}`);
  assert.equal(model.queue({ runningMs: [20], queued: 0, workers: 1 }).mean, service - 20);
  assert.equal(model.queue({ runningMs: [1e6], queued: 0, workers: 1 }).mean, 0);
  // Two busy workers and two queued jobs: (2 + 2) services shared by 2 workers.
  assert.equal(model.queue({ runningMs: [0, 0], queued: 2, workers: 2 }).mean, 2 * service);
  const q = model.queue({ runningMs: [0], queued: 1, workers: 1 });
  assert.ok(q.upper > q.mean);
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
  assert.ok(pick(150, { backlog: { runningMs: [0], queued: 0, workers: 1 } }).point.gmacs < 1);
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
