/**
 * The HTTP API as a Hono app, composed of small route groups over one `ServerContext`. Routes
 * throw; the one error handler answers every error as a JSON body `{error: {code, message}}`.
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { classifyRoutes } from "./classify.ts";
import { demoRoutes } from "./demo.ts";
import { infoRoutes } from "./info.ts";
import type { ServerContext } from "./context.ts";
import { errorResponse } from "./errors.ts";
import { MAX_BODY_BYTES } from "./params.ts";

const ROUTES = new Set([
  "/",
  "/v1/classify",
  "/v1/explain",
  "/v1/models",
  "/healthz",
  "/readyz",
  "/metrics",
  "/openapi.json",
]);

/** Builds the app. */
export function createApp(ctx: ServerContext): Hono {
  const app = new Hono();
  app.use("*", async (c, next) => {
    const t0 = performance.now();
    await next();
    const route = ROUTES.has(c.req.path) ? c.req.path : "other";
    ctx.metrics.request(route, c.res.status, (performance.now() - t0) / 1000);
  });
  app.use(
    "/v1/*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) =>
        c.json({
          error: { code: "body_too_large", message: `body exceeds ${MAX_BODY_BYTES} bytes` },
        }, 413),
    }),
  );
  app.route("/", classifyRoutes(ctx));
  app.route("/", infoRoutes(ctx));
  app.route("/", demoRoutes());
  app.notFound((c) =>
    c.json({ error: { code: "not_found", message: `no route ${c.req.method} ${c.req.path}` } }, 404)
  );
  app.onError((e, c) => errorResponse(c, e));
  return app;
}
