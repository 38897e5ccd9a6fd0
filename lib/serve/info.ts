/**
 * Read-only routes: `/healthz` (the process answers), `/readyz` (model loaded and latency model
 * calibrated), `/v1/models`, `/metrics` (Prometheus) and `/openapi.json`.
 * @module
 */
import { Hono } from "hono";
import { expectedAccuracy } from "../budget/points.ts";
import { METHOD_NAMES } from "../merge/methods.ts";
import { tokenCount } from "../checkpoint/config.ts";
import { PoolUnavailableError } from "../runtime/errors.ts";
import type { ServedModel, ServerContext } from "./context.ts";
import { openApiSpec } from "./openapi.ts";

/** One model as `/v1/models` lists it. */
function describe(ctx: ServerContext, { config, budget, inference }: ServedModel) {
  const { info } = ctx;
  return {
    name: config.name,
    config: {
      image_size: config.imgSize,
      patch_size: config.patchSize,
      embed_dim: config.embedDim,
      depth: config.depth,
      num_heads: config.numHeads,
      num_classes: config.numClasses,
      tokens: tokenCount(config),
    },
    backend: inference.backend,
    backend_choice: info.backendChoice,
    workers: inference.workers,
    methods: METHOD_NAMES,
    priors: info.priors,
    kv: info.kv,
    calibrated: budget.calibrated,
    operating_points: {
      source: budget.table.source,
      points: budget.table.points.map((p) => ({
        ...p,
        expected_accuracy: expectedAccuracy(p),
        predicted_infer_ms: Math.round(budget.pointMs(p) * 100) / 100,
      })),
    },
    timing: budget.describeTiming(),
  };
}

/** The info routes. */
export function infoRoutes(ctx: ServerContext): Hono {
  const app = new Hono();
  const ready = () => ctx.models.every((m) => m.budget.calibrated);

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.get("/readyz", (c) => {
    const notReady = (reason: string) => c.json({ ready: false, reason }, 503);
    if (ctx.draining) return notReady("draining for shutdown");
    if (ctx.failure) return notReady(ctx.failure);
    // Without workers nothing can be answered, however ready the rest is.
    const gone = ctx.models.map((m) => m.inference.refusal())
      .find((e) => e instanceof PoolUnavailableError);
    if (gone) return notReady(gone.message);
    return ready() ? c.json({ ready: true }) : notReady("calibrating the latency model");
  });

  app.get("/v1/models", (c) => c.json({ models: ctx.models.map((m) => describe(ctx, m)) }));

  app.get("/metrics", (c) =>
    c.text(
      ctx.metrics.render({
        queueDepth: ctx.models.reduce((n, m) => n + m.inference.queueDepth, 0),
        running: ctx.models.reduce((n, m) => n + m.inference.running, 0),
        ready: ready(),
      }),
      200,
      { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    ));

  app.get("/openapi.json", (c) => c.json(openApiSpec(ctx)));
  return app;
}
