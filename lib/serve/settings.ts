/**
 * The server's settings, declared once: each is a `deno task start` flag and an environment
 * variable (the flag wins), and `--help` is generated from them.
 * @module
 */
import {
  argValue,
  type ChoiceOption,
  type NumberOption,
  type OptionSpec,
} from "../options/spec.ts";
import { BACKEND, KV, MODEL_DIR, THREADS } from "../options/model.ts";

/** Inference workers. */
export const WORKERS: NumberOption = {
  kind: "number",
  name: "workers",
  min: 1,
  max: 64,
  integer: true,
  default: 1,
  env: "EDGEMERGE_WORKERS",
  description: "Inference workers, each with its own sessions.",
};

/** Queue bound. */
export const QUEUE: NumberOption = {
  kind: "number",
  name: "queue",
  min: 1,
  max: 10_000,
  integer: true,
  default: 16,
  env: "EDGEMERGE_QUEUE",
  description: "Waiting requests before 429.",
};

/** Hung-worker timeout. */
export const JOB_TIMEOUT_MS: NumberOption = {
  kind: "number",
  name: "job_timeout_ms",
  min: 100,
  max: 600_000,
  integer: true,
  default: 30_000,
  env: "EDGEMERGE_JOB_TIMEOUT_MS",
  description: "A job running longer means a hung worker: it is replaced and the job answered " +
    "503 (not retried: it would hang the next worker too).",
};

/** Uploads read at once. */
export const MAX_UPLOADS: NumberOption = {
  kind: "number",
  name: "max_uploads",
  min: 1,
  max: 10_000,
  integer: true,
  default: 16,
  env: "EDGEMERGE_MAX_UPLOADS",
  description: "Request bodies being read at once; more are answered 429 before reading.",
};

/** Body-read timeout. */
export const BODY_TIMEOUT_MS: NumberOption = {
  kind: "number",
  name: "body_timeout_ms",
  min: 100,
  max: 600_000,
  integer: true,
  default: 10_000,
  env: "EDGEMERGE_BODY_TIMEOUT_MS",
  description: "A request body not read within this is answered 408.",
};

/** Shutdown drain deadline. */
export const DRAIN_MS: NumberOption = {
  kind: "number",
  name: "drain_ms",
  min: 0,
  max: 600_000,
  integer: true,
  default: 20_000,
  env: "EDGEMERGE_DRAIN_MS",
  description: "On SIGTERM, time to finish the work in hand; what is left is answered 503.",
};

/** Batching of queued requests. */
export const MAX_BATCH: NumberOption = {
  kind: "number",
  name: "max_batch",
  min: 1,
  max: 64,
  integer: true,
  default: 1,
  env: "EDGEMERGE_MAX_BATCH",
  description: "Queued requests at one operating point run together (1: off, since a batch " +
    "answers later than a single run; raise it for throughput without budgets).",
};

/** In-flight re-planning of budgeted requests. */
export const REPLAN: ChoiceOption<"on" | "off"> = {
  kind: "choice",
  name: "replan",
  choices: ["on", "off"],
  default: "on",
  env: "EDGEMERGE_REPLAN",
  description: "Budgeted requests re-plan their schedule between segments (off: only to " +
    "measure what it brings).",
};

/** Every setting, in help order. */
export const SERVER_SETTINGS: readonly OptionSpec[] = [
  MODEL_DIR,
  BACKEND,
  THREADS,
  KV,
  WORKERS,
  QUEUE,
  JOB_TIMEOUT_MS,
  MAX_BATCH,
  REPLAN,
  MAX_UPLOADS,
  BODY_TIMEOUT_MS,
  DRAIN_MS,
];

/** The settings, from `parseArgs` values and the environment. */
export function readSettings(values: Record<string, unknown>) {
  return {
    model: argValue(MODEL_DIR, values),
    backend: argValue(BACKEND, values)!,
    threads: argValue(THREADS, values),
    kv: argValue(KV, values),
    workers: argValue(WORKERS, values)!,
    queue: argValue(QUEUE, values)!,
    jobTimeoutMs: argValue(JOB_TIMEOUT_MS, values)!,
    maxBatch: argValue(MAX_BATCH, values)!,
    replan: argValue(REPLAN, values) === "on",
    limits: {
      maxUploads: argValue(MAX_UPLOADS, values)!,
      bodyTimeoutMs: argValue(BODY_TIMEOUT_MS, values)!,
    },
    drainMs: argValue(DRAIN_MS, values)!,
  };
}
