/**
 * Read-only routes: `/healthz` (the process answers), `/readyz` (model loaded and latency model
 * calibrated), `/v1/models`, `/metrics` (Prometheus) and `/openapi.json`.
 * @module
 */
import { Hono } from "hono";
import { expectedAccuracy } from "../budget/points.ts";
import { METHOD_NAMES } from "../merge/methods.ts";
import { tokenCount } from "../vit/config.ts";
import { openApiSpec } from "./openapi.ts";
import type { Service } from "./service.ts";

/** The info routes. */
export function infoRoutes(s: Service): Hono {
  const app = new Hono();
  const ready = () => s.budget.calibrated;

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.get(
    "/readyz",
    (c) =>
      ready()
        ? c.json({ ready: true })
        : c.json({ ready: false, reason: "calibrating the latency model" }, 503),
  );

  app.get("/v1/models", (c) => {
    const { config, budget, inference, info } = s;
    const model = budget.model;
    return c.json({
      models: [{
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
          points: budget.table.points.map((p) => {
            const predicted = model.infer(p);
            return {
              ...p,
              expected_accuracy: expectedAccuracy(p),
              predicted_infer_ms: predicted ? Math.round(predicted.mean * 100) / 100 : null,
            };
          }),
        },
      }],
    });
  });

  app.get("/metrics", (c) =>
    c.text(
      s.metrics.render({
        queueDepth: s.inference.queueDepth,
        running: s.inference.running,
        ready: ready(),
      }),
      200,
      { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    ));

  app.get("/openapi.json", (c) => c.json(openApiSpec(s.config.name)));
  return app;
}
