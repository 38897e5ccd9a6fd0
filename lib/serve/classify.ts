/**
 * `POST /v1/classify` and `POST /v1/explain`: read and check the image, let the budget admit
 * the request (a deadline; how it runs is decided when a worker takes it), run it, learn from
 * the timings. Errors are thrown to the app's one error handler.
 * @module
 */
import { unmergedGmacs } from "../merge/schedule.ts";
import { type Context, Hono } from "hono";
import { checkImage } from "../image/decode.ts";
import type { RequestOptions } from "../options/request.ts";
import type { ClassifyResult } from "../runtime/jobs.ts";
import type { ServedModel, ServerContext } from "./context.ts";
import { ApiError } from "./errors.ts";
import { bodyType, imageOf, readBody, readRequest } from "./params.ts";

/** One answered request. */
interface Answer {
  model: ServedModel;
  options: RequestOptions;
  result: ClassifyResult;
  readMs: number;
  totalMs: number;
  /** Null without a budget. */
  budgetMet: boolean | null;
}

/**
 * The image, within the upload limits: at most `maxUploads` bodies read at once (429 beyond,
 * unread), each within `bodyTimeoutMs` and `MAX_BODY_BYTES`.
 */
async function readBounded(ctx: ServerContext, c: Context): Promise<Uint8Array> {
  bodyType(c);
  const { maxUploads, bodyTimeoutMs } = ctx.limits;
  if (ctx.uploads >= maxUploads) {
    throw new ApiError(429, "too_many_uploads", `${maxUploads} uploads are being read; retry`, {
      retry_after_s: 1,
    });
  }
  ctx.uploads++;
  try {
    return await imageOf(c, await readBody(c, bodyTimeoutMs));
  } finally {
    ctx.uploads--;
  }
}

/**
 * Runs one request and records what it taught. The clock starts with the handler, so the body
 * read counts towards the budget; the timing model learns only what follows it.
 */
async function answer(
  ctx: ServerContext,
  c: Context,
  explain: boolean,
): Promise<Answer> {
  const t0 = performance.now();
  const { model, options } = readRequest(c, ctx);
  // Back-pressure before buffering: a request that would be refused is refused unread.
  const refused = model.inference.refusal();
  if (refused) throw refused;
  const image = await readBounded(ctx, c);
  const readMs = performance.now() - t0;
  const { width, height } = checkImage(image);
  const pixels = width * height;
  const job = model.budget.admit({ ...options, pixels, explain, arrived: t0 });
  const result = await model.inference.classify({
    ...job,
    image,
    topK: options.topK,
    explain,
    signal: c.req.raw.signal,
  });
  const totalMs = performance.now() - t0;
  // Learnt once the answer is on its way: a refit (0.7 ms at the p90) would delay it.
  if (!explain) setTimeout(() => model.budget.observe(result, pixels, totalMs - readMs), 0);
  const { tokens } = result;
  ctx.metrics.tokensMerged(tokens[0] - tokens[tokens.length - 1]);
  ctx.metrics.replans(result.replans, result.replanDelta);
  const budgetMet = options.budgetMs === undefined ? null : totalMs <= options.budgetMs;
  if (options.budgetMs !== undefined) ctx.metrics.budget(options.budgetMs - totalMs);
  return { model, options, result, readMs, totalMs, budgetMet };
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/** The JSON body of a classify answer (`serializeMs`: what the previous stringify took). */
function classifyBody(
  { model, options, result, readMs, totalMs, budgetMet }: Answer,
  serializeMs?: number,
) {
  return {
    model: model.config.name,
    top_k: result.top,
    operating_point: {
      method: result.method,
      schedule: result.schedule,
      planned_schedule: result.planned,
      replans: result.replans,
      ...(result.theta !== undefined && { theta: result.theta }),
      resolution: result.resolution ?? model.config.imgSize,
      tokens: result.tokens,
      gmacs: result.gmacs,
      reduction: 1 - result.gmacs / unmergedGmacs(model.config),
      ...(result.kind && { schedule_kind: result.kind }),
      expected_top1: model.budget.accuracy.expected(
        result.method,
        result.gmacs,
        result.kind,
        result.resolution,
      ) ?? null,
    },
    timings: {
      read_ms: round(readMs),
      queue_ms: round(result.queueMs),
      decode_ms: round(result.decodeMs),
      decoded_while_queued: result.decodedAhead,
      infer_ms: round(result.inferMs),
      segments: result.segments.map((s) => ({ blocks: [s.from, s.to], ms: round(s.ms) })),
      ...(serializeMs !== undefined && { serialize_ms: round(serializeMs) }),
      total_ms: round(totalMs),
      predicted_ms: result.predictedMs === undefined ? null : round(result.predictedMs),
    },
    budget_ms: options.budgetMs ?? null,
    budget_met: budgetMet,
    backend: result.backend,
  };
}

/** The classify and explain routes. */
export function classifyRoutes(ctx: ServerContext): Hono {
  const app = new Hono();

  app.post("/v1/classify", async (c) => {
    const done = await answer(ctx, c, false);
    const t0 = performance.now();
    JSON.stringify(classifyBody(done));
    return c.json(classifyBody(done, performance.now() - t0));
  });

  app.post("/v1/explain", async (c) => {
    const { result } = await answer(ctx, c, true);
    c.header("X-Edgemerge-Method", result.method);
    c.header("X-Edgemerge-Schedule", result.schedule.join(","));
    c.header("X-Edgemerge-Tokens", result.tokens.join(","));
    c.header("X-Edgemerge-Top1", encodeURIComponent(result.top[0].label));
    return c.body(result.explainPng!.slice().buffer, 200, { "content-type": "image/png" });
  });
  return app;
}
