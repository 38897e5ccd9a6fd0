/**
 * The HTTP API as a Hono app, composed of small route groups over one `ServerContext`. Routes
 * throw; the one error handler answers every error as a JSON body `{error: {code, message}}`.
 * @module
 */
import { Hono } from "hono";
import { classifyRoutes } from "./classify.ts";
import { demoRoutes } from "./demo.ts";
import { infoRoutes } from "./info.ts";
import type { ServerContext } from "./context.ts";
import { errorResponse } from "./errors.ts";

/** Every route and its methods (a known path with another method: 405 with `Allow`). */
const ROUTES = new Map<string, string[]>([
  ["/", ["GET"]],
  ["/v1/classify", ["POST"]],
  ["/v1/explain", ["POST"]],
  ["/v1/models", ["GET"]],
  ["/healthz", ["GET"]],
  ["/readyz", ["GET"]],
  ["/metrics", ["GET"]],
  ["/openapi.json", ["GET"]],
]);

/**
 * Longest URL answered (414 beyond). Deno's HTTP server resets connections whose request head
 * is larger than its own limit before the app sees them; this answers the ones that get through.
 */
export const MAX_URL_CHARS = 8192;

/** Builds the app. */
export function createApp(ctx: ServerContext): Hono {
  const app = new Hono();
  app.use("*", async (c, next) => {
    const t0 = performance.now();
    await next();
    const route = ROUTES.has(c.req.path) ? c.req.path : "other";
    ctx.metrics.request(route, c.res.status, (performance.now() - t0) / 1000);
  });
  app.use("*", async (c, next) => {
    if (c.req.url.length > MAX_URL_CHARS) {
      return c.json({
        error: { code: "uri_too_long", message: `the URL exceeds ${MAX_URL_CHARS} characters` },
      }, 414);
    }
    await next();
  });
  app.route("/", classifyRoutes(ctx));
  app.route("/", infoRoutes(ctx));
  app.route("/", demoRoutes());
  app.notFound((c) => {
    const allowed = ROUTES.get(c.req.path);
    if (allowed) {
      c.header("Allow", [...allowed, ...(allowed.includes("GET") ? ["HEAD"] : [])].join(", "));
      return c.json({
        error: {
          code: "method_not_allowed",
          message: `${c.req.path} takes ${allowed.join(", ")}, not ${c.req.method}`,
        },
      }, 405);
    }
    return c.json({
      error: { code: "not_found", message: `no route ${c.req.method} ${c.req.path}` },
    }, 404);
  });
  app.onError((e, c) => errorResponse(c, e));
  return app;
}
