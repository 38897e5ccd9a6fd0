/**
 * What every route is given: the served models (each with where its inference runs and its
 * budget state), the metrics, and facts about the deployment for `/v1/models`.
 * @module
 */
import { BODY_TIMEOUT_MS, MAX_UPLOADS } from "./settings.ts";
import { Budget, type BudgetOptions } from "../budget/budget.ts";
import { DEFAULT_SEGMENT } from "../vit/graph.ts";
import { defaultPoints, type PointsTable } from "../budget/points.ts";
import type { ViTConfig } from "../checkpoint/config.ts";
import { type ChoiceOption, parseChoice } from "../options/spec.ts";
import type { Inference } from "../runtime/jobs.ts";
import { Metrics } from "./metrics.ts";

/** One model the server answers for. */
export interface ServedModel {
  config: ViTConfig;
  inference: Inference;
  budget: Budget;
}

/** Facts about the deployment shown by `/v1/models`. */
export interface DeploymentInfo {
  /** The configured backend choice (auto, wasm, webgpu). */
  backendChoice: string;
  /** Saliency priors available (model names). */
  priors: string[];
  /** Where priors and operating points were read from, and KV's state. */
  kv: string;
}

/** What one client may hold of the server while its request is read. */
export interface RequestLimits {
  /** Bodies read at once (more: 429 before reading). */
  maxUploads: number;
  /** A body not read by then: 408. */
  bodyTimeoutMs: number;
}

/** Everything a route needs. */
export interface ServerContext {
  /** The served models; a request without `model` gets the first. */
  models: ServedModel[];
  metrics: Metrics;
  info: DeploymentInfo;
  limits: RequestLimits;
  /** Bodies being read now. */
  uploads: number;
  /** Set on SIGTERM: `/readyz` answers 503. */
  draining: boolean;
  /** Why the service cannot get ready (a model's calibration failed): `/readyz` answers 503. */
  failure?: string;
}

/** A served model over `inference`, with the given (else default) operating points. */
export function servedModel(
  config: ViTConfig,
  inference: Inference,
  table: PointsTable = defaultPoints(config),
  options: Partial<BudgetOptions> = {},
): ServedModel {
  const budget = new Budget(config, table, inference, { segment: DEFAULT_SEGMENT, ...options });
  return { config, inference, budget };
}

/** A context over `models` (at least one). */
export function makeContext(
  models: ServedModel[],
  options: { metrics?: Metrics; info?: Partial<DeploymentInfo>; limits?: RequestLimits } = {},
): ServerContext {
  if (models.length === 0) throw new Error("a server needs at least one model");
  return {
    models,
    metrics: options.metrics ?? new Metrics(),
    info: { backendChoice: "auto", priors: [], kv: "none", ...options.info },
    limits: options.limits ?? {
      maxUploads: MAX_UPLOADS.default!,
      bodyTimeoutMs: BODY_TIMEOUT_MS.default!,
    },
    uploads: 0,
    draining: false,
  };
}

/** The `model` request option: one of the served models (also as `timm/<name>`). */
export function modelOption(ctx: ServerContext): ChoiceOption {
  return {
    kind: "choice",
    name: "model",
    choices: ctx.models.map((m) => m.config.name),
    default: ctx.models[0].config.name,
    description: "Which served model answers (default: the first).",
  };
}

/** The served model called `name` (default: the first); an unknown name is an `OptionError`. */
export function findModel(ctx: ServerContext, name?: string): ServedModel {
  const spec = modelOption(ctx);
  const chosen = parseChoice(spec, name?.replace(/^timm\//, "") ?? spec.default!);
  return ctx.models.find((m) => m.config.name === chosen)!;
}
