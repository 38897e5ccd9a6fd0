/**
 * `POST /v1/classify` and `POST /v1/explain`: read and check the image, choose the operating
 * point (budget, explicit method/reduction, or unmerged), run it, learn from the timings.
 * @module
 */
import { Hono } from "hono";
import { type Choice, NoPointsError } from "../budget/choose.ts";
import type { TotalEstimate } from "../budget/latency.ts";
import { type OperatingPoint, pointKey, unmergedPoint } from "../budget/points.ts";
import { methodByName } from "../merge/methods.ts";
import { checkImage } from "../image/decode.ts";
import { ApiError, errorResponse } from "./errors.ts";
import type { ClassifyJob, ClassifyResult } from "./inference.ts";
import { parseOptions, readImage, type RequestOptions } from "./params.ts";
import type { Service } from "./service.ts";

/** Default merge strength when a method is named without a reduction or budget. */
const DEFAULT_REDUCTION = 0.33;

/** How a request will run. */
interface Plan {
  job: Omit<ClassifyJob, "image" | "topK">;
  /** Known before running when it comes from the table (budget or unmerged). */
  point?: OperatingPoint;
  predicted?: TotalEstimate;
}

function plan(s: Service, o: RequestOptions, pixels: number, explain: boolean): Plan {
  const { budget, inference } = s;
  if (o.budgetMs !== undefined) {
    let choice: Choice;
    try {
      choice = budget.choose({
        budgetMs: o.budgetMs,
        onMiss: o.onMiss,
        method: o.method,
        pixels,
        backlog: inference.backlog(),
      });
    } catch (e) {
      if (e instanceof NoPointsError) throw new ApiError(400, "bad_method", e.message);
      throw e;
    }
    const { point } = choice;
    return {
      job: {
        method: point.method,
        schedule: point.schedule,
        theta: point.theta,
        service: budget.model.service(point, pixels),
        ...batchable(point),
      },
      point,
      predicted: choice.predicted,
    };
  }
  if (o.method === undefined && o.reduction === undefined && !explain) {
    const point = unmergedPoint(s.config);
    const predicted = budget.model.total(point, pixels, inference.backlog());
    return {
      job: {
        method: "none",
        schedule: point.schedule,
        service: budget.model.service(point, pixels),
        ...batchable(point),
      },
      point,
      predicted,
    };
  }
  const method = o.method ?? "tome";
  if (method === "none") {
    if (explain) throw new ApiError(400, "bad_method", "explain needs a merge method, not none");
    return plan(s, { ...o, method: undefined, reduction: undefined }, pixels, false);
  }
  return { job: { method, reduction: o.reduction ?? DEFAULT_REDUCTION } };
}

/** Jobs at the same non-adaptive point may share a batch. */
function batchable(point: OperatingPoint): { batchKey?: string } {
  return methodByName(point.method)?.adaptive ? {} : { batchKey: pointKey(point) };
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/**
 * Runs a planned request and records what it learnt. `t0` is when the request arrived: the body
 * read counts towards the budget too.
 */
async function run(
  s: Service,
  image: Uint8Array,
  o: RequestOptions,
  explain: boolean,
  t0: number,
) {
  const { width, height } = checkImage(image);
  const p = plan(s, o, width * height, explain);
  const result: ClassifyResult = await s.inference.classify({
    ...p.job,
    image,
    topK: o.topK,
    explain,
  });
  const totalMs = performance.now() - t0;
  const point: OperatingPoint = p.point ??
    { method: p.job.method, schedule: result.schedule, gmacs: result.gmacs, reduction: 0 };
  if (!explain) s.budget.observe(point, result, totalMs, width * height, p.predicted);
  const tokens = result.tokens;
  s.metrics.tokensMerged(tokens[0] - tokens[tokens.length - 1]);
  const budgetMet = o.budgetMs === undefined ? null : totalMs <= o.budgetMs;
  if (budgetMet !== null) s.metrics.budget(budgetMet);
  return { p, result, totalMs, budgetMet };
}

/** The classify and explain routes. */
export function classifyRoutes(s: Service): Hono {
  const app = new Hono();
  const unmergedGmacs = unmergedPoint(s.config).gmacs;

  app.post("/v1/classify", async (c) => {
    const t0 = performance.now();
    try {
      const options = parseOptions(c, s.config);
      const image = await readImage(c);
      const { p, result, totalMs, budgetMet } = await run(s, image, options, false, t0);
      return c.json({
        model: s.config.name,
        top_k: result.top,
        operating_point: {
          method: p.job.method,
          schedule: result.schedule,
          ...(p.job.theta !== undefined && { theta: p.job.theta }),
          tokens: result.tokens,
          gmacs: result.gmacs,
          reduction: 1 - result.gmacs / unmergedGmacs,
          ...(p.point?.top1 !== undefined && { expected_top1: p.point.top1 }),
        },
        timings: {
          queue_ms: round(result.queueMs),
          decode_ms: round(result.decodeMs),
          infer_ms: round(result.inferMs),
          total_ms: round(totalMs),
          predicted_ms: p.predicted ? round(p.predicted.mean) : null,
          predicted_upper_ms: p.predicted ? round(p.predicted.upper) : null,
        },
        budget_ms: options.budgetMs ?? null,
        budget_met: budgetMet,
        backend: result.backend,
      });
    } catch (e) {
      return errorResponse(c, e);
    }
  });

  app.post("/v1/explain", async (c) => {
    const t0 = performance.now();
    try {
      const options = parseOptions(c, s.config);
      const image = await readImage(c);
      const { p, result } = await run(s, image, options, true, t0);
      c.header("X-Edgemerge-Method", p.job.method);
      c.header("X-Edgemerge-Schedule", result.schedule.join(","));
      c.header("X-Edgemerge-Tokens", result.tokens.join(","));
      c.header("X-Edgemerge-Top1", encodeURIComponent(result.top[0].label));
      return c.body(result.explainPng!.slice().buffer, 200, { "content-type": "image/png" });
    } catch (e) {
      return errorResponse(c, e);
    }
  });
  return app;
}
