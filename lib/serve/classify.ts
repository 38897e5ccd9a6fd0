/**
 * `POST /v1/classify` and `POST /v1/explain`: read and check the image, let the budget decide
 * how it runs, run it, learn from the timings. Errors are thrown to the app's one error handler.
 * @module
 */
import { Hono } from "hono";
import { checkImage } from "../image/decode.ts";
import type { RequestOptions } from "../options/request.ts";
import type { ClassifyResult } from "../runtime/jobs.ts";
import type { Decision } from "../budget/budget.ts";
import type { ServedModel, ServerContext } from "./context.ts";
import { readImage, readRequest } from "./params.ts";

/** One answered request. */
interface Answer {
  model: ServedModel;
  options: RequestOptions;
  decision: Decision;
  result: ClassifyResult;
  totalMs: number;
  /** Null without a budget. */
  budgetMet: boolean | null;
}

/**
 * Runs one request and records what it taught. The clock starts with the handler, so the body
 * read counts towards the budget too.
 */
async function answer(
  ctx: ServerContext,
  c: Parameters<typeof readImage>[0],
  explain: boolean,
): Promise<Answer> {
  const t0 = performance.now();
  const { model, options } = readRequest(c, ctx);
  const image = await readImage(c);
  const { width, height } = checkImage(image);
  const pixels = width * height;
  const decision = model.budget.decide({ ...options, pixels, explain });
  const result = await model.inference.classify({
    ...decision.job,
    image,
    topK: options.topK,
    explain,
  });
  const totalMs = performance.now() - t0;
  const point = decision.point ??
    { method: decision.job.method, schedule: result.schedule, gmacs: result.gmacs, reduction: 0 };
  if (!explain) model.budget.observe(point, result, totalMs, pixels, decision.predicted);
  const { tokens } = result;
  ctx.metrics.tokensMerged(tokens[0] - tokens[tokens.length - 1]);
  const budgetMet = options.budgetMs === undefined ? null : totalMs <= options.budgetMs;
  if (budgetMet !== null) ctx.metrics.budget(budgetMet);
  return { model, options, decision, result, totalMs, budgetMet };
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/** The JSON body of a classify answer. */
function classifyBody({ model, options, decision, result, totalMs, budgetMet }: Answer) {
  const { job, point, predicted } = decision;
  const unmerged = model.budget.table.points.find((p) => p.method === "none")!;
  return {
    model: model.config.name,
    top_k: result.top,
    operating_point: {
      method: job.method,
      schedule: result.schedule,
      ...(job.theta !== undefined && { theta: job.theta }),
      tokens: result.tokens,
      gmacs: result.gmacs,
      reduction: 1 - result.gmacs / unmerged.gmacs,
      ...(point?.top1 !== undefined && { expected_top1: point.top1 }),
    },
    timings: {
      queue_ms: round(result.queueMs),
      decode_ms: round(result.decodeMs),
      infer_ms: round(result.inferMs),
      total_ms: round(totalMs),
      predicted_ms: predicted ? round(predicted.mean) : null,
      predicted_upper_ms: predicted ? round(predicted.upper) : null,
    },
    budget_ms: options.budgetMs ?? null,
    budget_met: budgetMet,
    backend: result.backend,
  };
}

/** The classify and explain routes. */
export function classifyRoutes(ctx: ServerContext): Hono {
  const app = new Hono();

  app.post("/v1/classify", async (c) => c.json(classifyBody(await answer(ctx, c, false))));

  app.post("/v1/explain", async (c) => {
    const { decision, result } = await answer(ctx, c, true);
    c.header("X-Edgemerge-Method", decision.job.method);
    c.header("X-Edgemerge-Schedule", result.schedule.join(","));
    c.header("X-Edgemerge-Tokens", result.tokens.join(","));
    c.header("X-Edgemerge-Top1", encodeURIComponent(result.top[0].label));
    return c.body(result.explainPng!.slice().buffer, 200, { "content-type": "image/png" });
  });
  return app;
}
