/**
 * What the routes share: the served model, where inference runs, the budget state, metrics and
 * facts for `/v1/models`.
 * @module
 */
import { Budget } from "../budget/budget.ts";
import { defaultPoints, type PointsTable } from "../budget/points.ts";
import type { ViTConfig } from "../vit/config.ts";
import type { Inference } from "./inference.ts";
import { Metrics } from "./metrics.ts";

/** Facts about the deployment shown by `/v1/models`. */
export interface ServiceInfo {
  /** The configured backend choice (auto, wasm, webgpu). */
  backendChoice: string;
  /** Saliency priors available (model names). */
  priors: string[];
  /** Where priors and operating points were read from, and KV's state. */
  kv: string;
}

/** Everything a route needs. */
export interface Service {
  config: ViTConfig;
  inference: Inference;
  budget: Budget;
  metrics: Metrics;
  info: ServiceInfo;
}

/** A service over `inference` with the given (else default) operating points. */
export function makeService(
  config: ViTConfig,
  inference: Inference,
  options: { table?: PointsTable; metrics?: Metrics; info?: Partial<ServiceInfo> } = {},
): Service {
  return {
    config,
    inference,
    budget: new Budget(options.table ?? defaultPoints(config), inference),
    metrics: options.metrics ?? new Metrics(),
    info: { backendChoice: "auto", priors: [], kv: "none", ...options.info },
  };
}
