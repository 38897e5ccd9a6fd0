/**
 * The HTTP API as a Hono app, composed of small route groups over one `Service`. Every error is
 * a JSON body `{error: {code, message}}` with a 4xx/5xx status, never a crash.
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { classifyRoutes } from "./classify.ts";
import { demoRoutes } from "./demo.ts";
import { infoRoutes } from "./info.ts";
import { MAX_BODY_BYTES } from "./params.ts";
import type { Service } from "./service.ts";

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
export function createApp(service: Service): Hono {
  const app = new Hono();
  app.use("*", async (c, next) => {
    const t0 = performance.now();
    await next();
    const route = ROUTES.has(c.req.path) ? c.req.path : "other";
    service.metrics.request(route, c.res.status, (performance.now() - t0) / 1000);
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
  app.route("/", classifyRoutes(service));
  app.route("/", infoRoutes(service));
  app.route("/", demoRoutes());
  app.notFound((c) =>
    c.json({ error: { code: "not_found", message: `no route ${c.req.method} ${c.req.path}` } }, 404)
  );
  app.onError((e, c) => {
    console.error(e);
    return c.json({ error: { code: "internal", message: "internal error" } }, 500);
  });
  return app;
}
