/**
 * The HTTP API as a Hono app. Routes validate input and answer JSON; errors are JSON bodies
 * `{error: {code, message}}` with a 4xx/5xx status, never a crash.
 * @module
 */
import { Hono } from "hono";
import { UserError } from "../errors.ts";
import { ImageError } from "../image/decode.ts";
import { METHOD_NAMES } from "../merge/methods.ts";
import type { ViTConfig } from "../vit/config.ts";
import { QueueFullError } from "../../workers/pool.ts";
import type { Inference } from "./inference.ts";
import { gmacs } from "../merge/cost.ts";
import { tokenCount } from "../vit/config.ts";

/** Largest accepted request body (10 MB). */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;
const IMAGE_TYPES = ["image/jpeg", "image/png"];
const IMAGE_ERROR_STATUS = { empty: 400, unsupported_format: 415, corrupt: 422, too_large: 413 };

function error(code: string, message: string) {
  return { error: { code, message } };
}

/** A request parameter is invalid (answered with 400 naming it). */
class BadParameter extends UserError {
  override name = "BadParameter";
}

function numberParam(
  value: string | undefined,
  name: string,
  min: number,
  max: number,
  int = false,
) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (
    value.trim() === "" || !Number.isFinite(n) || n < min || n > max ||
    (int && !Number.isInteger(n))
  ) {
    throw new BadParameter(
      `${name} must be ${int ? "an integer" : "a number"} in [${min}, ${max}], got "${value}"`,
    );
  }
  return n;
}

/** The HTTP status and body for an error a job raised. */
function jobError(
  e: unknown,
): { status: number; body: ReturnType<typeof error>; retryAfter?: number } {
  if (e instanceof QueueFullError) {
    return { status: 429, body: error("busy", e.message), retryAfter: e.retryAfterSeconds };
  }
  const err = e as Error & { code?: keyof typeof IMAGE_ERROR_STATUS };
  if ((e instanceof ImageError || err.name === "ImageError") && err.code) {
    return { status: IMAGE_ERROR_STATUS[err.code], body: error(err.code, err.message) };
  }
  if (e instanceof UserError) return { status: 503, body: error(err.name, err.message) };
  throw e;
}

/** Builds the app on an inference backend (worker pool or in-process) for model `config`. */
export function createApp(inference: Inference, config: ViTConfig): Hono {
  const app = new Hono();
  const unmergedGmacs = gmacs(config, Array(config.depth + 1).fill(tokenCount(config)));

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.post("/v1/classify", async (c) => {
    const type = (c.req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
    if (!IMAGE_TYPES.includes(type)) {
      return c.json(
        error(
          "unsupported_media_type",
          `content-type must be one of ${IMAGE_TYPES.join(", ")}, got "${type}"`,
        ),
        415,
      );
    }
    const method = c.req.query("method") ?? "none";
    if (!METHOD_NAMES.includes(method)) {
      return c.json(
        error("bad_method", `unknown method "${method}"; known: ${METHOD_NAMES.join(", ")}`),
        400,
      );
    }
    let topK: number, reduction: number | undefined;
    try {
      topK = numberParam(c.req.query("top_k"), "top_k", 1, config.numClasses, true) ?? 5;
      reduction = numberParam(c.req.query("reduction"), "reduction", 0, 0.95);
    } catch (e) {
      if (!(e instanceof BadParameter)) throw e;
      return c.json(error("bad_parameter", e.message), 400);
    }
    if (Number(c.req.header("content-length") ?? 0) > MAX_BODY_BYTES) {
      return c.json(error("body_too_large", `body exceeds ${MAX_BODY_BYTES} bytes`), 413);
    }
    const image = new Uint8Array(await c.req.arrayBuffer());
    if (image.byteLength > MAX_BODY_BYTES) {
      return c.json(error("body_too_large", `body exceeds ${MAX_BODY_BYTES} bytes`), 413);
    }
    const t0 = performance.now();
    try {
      const r = await inference.classify({ method, reduction, topK, image });
      return c.json({
        top_k: r.top,
        method,
        schedule: r.schedule,
        tokens: r.tokens,
        gmacs: r.gmacs,
        reduction: 1 - r.gmacs / unmergedGmacs,
        backend: r.backend,
        timings: {
          queue_ms: r.queueMs,
          decode_ms: r.decodeMs,
          infer_ms: r.inferMs,
          total_ms: performance.now() - t0,
        },
      });
    } catch (e) {
      const { status, body, retryAfter } = jobError(e);
      if (retryAfter) c.header("Retry-After", `${retryAfter}`);
      return c.json(body, status as 400);
    }
  });

  app.notFound((c) => c.json(error("not_found", `no route ${c.req.method} ${c.req.path}`), 404));
  app.onError((e, c) => {
    console.error(e);
    return c.json(error("internal", "internal error"), 500);
  });
  return app;
}
