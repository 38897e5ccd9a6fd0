/**
 * The HTTP API as a Hono app. Routes validate input and answer JSON; errors are JSON bodies
 * `{error: {code, message}}` with a 4xx/5xx status, never a crash.
 * @module
 */
import { Hono } from "hono";
import type { Classifier } from "../classifier.ts";
import { ImageError } from "../image/decode.ts";

/** Largest accepted request body (10 MB). */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;
const IMAGE_TYPES = ["image/jpeg", "image/png"];
const IMAGE_ERROR_STATUS = { empty: 400, unsupported_format: 415, corrupt: 422, too_large: 413 };

function error(code: string, message: string) {
  return { error: { code, message } };
}

/** Builds the app around a loaded classifier. */
export function createApp(classifier: Classifier): Hono {
  const app = new Hono();

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
    const topK = Number(c.req.query("top_k") ?? 5);
    if (!Number.isInteger(topK) || topK < 1 || topK > 1000) {
      return c.json(error("bad_top_k", "top_k must be an integer in [1, 1000]"), 400);
    }
    const length = Number(c.req.header("content-length") ?? 0);
    if (length > MAX_BODY_BYTES) {
      return c.json(error("body_too_large", `body exceeds ${MAX_BODY_BYTES} bytes`), 413);
    }
    const body = new Uint8Array(await c.req.arrayBuffer());
    if (body.byteLength > MAX_BODY_BYTES) {
      return c.json(error("body_too_large", `body exceeds ${MAX_BODY_BYTES} bytes`), 413);
    }
    const t0 = performance.now();
    let input: Float32Array;
    try {
      input = await classifier.prepare(body);
    } catch (e) {
      if (!(e instanceof ImageError)) throw e;
      return c.json(error(e.code, e.message), IMAGE_ERROR_STATUS[e.code] as 400);
    }
    const t1 = performance.now();
    const [out] = await classifier.run([input]);
    const t2 = performance.now();
    return c.json({
      top_k: classifier.predictions(out.logits, topK),
      gmacs: out.gmacs,
      tokens: out.tokens,
      backend: classifier.session.backend,
      timings: { decode_ms: t1 - t0, infer_ms: t2 - t1, total_ms: t2 - t0 },
    });
  });

  app.notFound((c) => c.json(error("not_found", `no route ${c.req.method} ${c.req.path}`), 404));
  app.onError((e, c) => {
    console.error(e);
    return c.json(error("internal", "internal error"), 500);
  });
  return app;
}
