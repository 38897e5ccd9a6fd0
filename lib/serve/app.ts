/**
 * The HTTP API as a Hono app. Routes validate input and answer JSON; errors are JSON bodies
 * `{error: {code, message}}` with a 4xx/5xx status, never a crash.
 * @module
 */
import { Hono } from "hono";
import { UserError } from "../errors.ts";
import { ImageError } from "../image/decode.ts";
import { METHOD_NAMES } from "../merge/methods.ts";
import type { Engine } from "./engine.ts";
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

/** Builds the app around an engine (a loaded model with per-method sessions). */
export function createApp(engine: Engine): Hono {
  const app = new Hono();
  const full = engine.bundle.config;
  const unmergedGmacs = gmacs(full, Array(full.depth + 1).fill(tokenCount(full)));

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
      topK = numberParam(c.req.query("top_k"), "top_k", 1, full.numClasses, true) ?? 5;
      reduction = numberParam(c.req.query("reduction"), "reduction", 0, 0.95);
    } catch (e) {
      if (!(e instanceof BadParameter)) throw e;
      return c.json(error("bad_parameter", e.message), 400);
    }
    if (Number(c.req.header("content-length") ?? 0) > MAX_BODY_BYTES) {
      return c.json(error("body_too_large", `body exceeds ${MAX_BODY_BYTES} bytes`), 413);
    }
    const body = new Uint8Array(await c.req.arrayBuffer());
    if (body.byteLength > MAX_BODY_BYTES) {
      return c.json(error("body_too_large", `body exceeds ${MAX_BODY_BYTES} bytes`), 413);
    }
    const classifier = await engine.classifier(method);
    const t0 = performance.now();
    let input: Float32Array;
    try {
      input = await classifier.prepare(body);
    } catch (e) {
      if (!(e instanceof ImageError)) throw e;
      return c.json(error(e.code, e.message), IMAGE_ERROR_STATUS[e.code] as 400);
    }
    const t1 = performance.now();
    const schedule = classifier.scheduleFor(method === "none" ? 0 : reduction ?? 0.33);
    const [out] = await classifier.run([input], schedule);
    const t2 = performance.now();
    return c.json({
      top_k: classifier.predictions(out.logits, topK),
      method,
      schedule,
      tokens: out.tokens,
      gmacs: out.gmacs,
      reduction: 1 - out.gmacs / unmergedGmacs,
      backend: classifier.session.backend,
      timings: { decode_ms: t1 - t0, infer_ms: t2 - t1, total_ms: t2 - t0 },
    });
  });

  app.notFound((c) => c.json(error("not_found", `no route ${c.req.method} ${c.req.path}`), 404));
  app.onError((e, c) => {
    if (e instanceof UserError) return c.json(error(e.name, e.message), 503);
    console.error(e);
    return c.json(error("internal", "internal error"), 500);
  });
  return app;
}
