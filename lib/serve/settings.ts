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
  type StringOption,
} from "../options/spec.ts";
import { BACKEND, KV, MODEL_DIR, THREADS } from "../options/model.ts";
import { RESOLUTION } from "../options/request.ts";
import { DEFAULT_OUTSIDE_MS, defaultTimePrice } from "../budget/budget.ts";
import { SESSION_LAYOUTS, type SessionLayout } from "../runtime/engine.ts";
import type { ReplanMode } from "../runtime/jobs.ts";
import { DEFAULT_SEGMENT } from "../vit/graph.ts";

/** The address the server listens on. */
export const HOST: StringOption = {
  kind: "string",
  name: "host",
  metavar: "ADDR",
  default: "0.0.0.0",
  env: "HOST",
  description: "Address to listen on.",
};

/** The port the server listens on. */
export const PORT: NumberOption = {
  kind: "number",
  name: "port",
  min: 0,
  max: 65_535,
  integer: true,
  default: 8000,
  env: "PORT",
  description: "Port to listen on (0: any free port).",
};

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
export const REPLAN: ChoiceOption<ReplanMode> = {
  kind: "choice",
  name: "replan",
  choices: ["on", "own", "off"],
  default: "on",
  env: "EDGEMERGE_REPLAN",
  description: "Budgeted requests re-plan their schedule between segments from the time left, " +
    "and hurry for the requests waiting when they still can (own: from their own time only; " +
    "off: never, only to measure what it brings).",
};

/** Segment length of budgeted runs. */
export const SEGMENT_BLOCKS: NumberOption = {
  kind: "number",
  name: "segment_blocks",
  min: 1,
  max: 64,
  integer: true,
  default: DEFAULT_SEGMENT,
  env: "EDGEMERGE_SEGMENT_BLOCKS",
  description: "Blocks per segment of a budgeted run, which re-plans between segments (fewer: " +
    "it can correct sooner, and every segment is one more session run).",
};

/** Whether budgets may plan runs at lower resolutions. */
export const RESOLUTIONS: ChoiceOption<"on" | "off"> = {
  kind: "choice",
  name: "resolutions",
  choices: ["on", "off"],
  default: "on",
  env: "EDGEMERGE_RESOLUTIONS",
  description: "Budgeted requests may run at the lower resolutions the operating points hold " +
    "(off: only at the model's own, e.g. where fine detail matters).",
};

/** The lowest resolution budgets may plan at. */
export const MIN_RESOLUTION: NumberOption = {
  kind: "number",
  name: "min_resolution",
  min: 0,
  max: RESOLUTION.max,
  integer: true,
  default: 0,
  env: "EDGEMERGE_MIN_RESOLUTION",
  description: "Budgeted requests run at no fewer pixels than this (0: any resolution the " +
    "operating points hold). The cheapest points (112 pixels in the shipped tables) answer in " +
    "time requests nothing else fits, at low top-1; a floor trades those answers for better " +
    "ones of the rest.",
};

/** Decoding queued requests' images while they wait. */
export const DECODE_AHEAD: ChoiceOption<"on" | "off"> = {
  kind: "choice",
  name: "decode_ahead",
  choices: ["on", "off"],
  default: "on",
  env: "EDGEMERGE_DECODE_AHEAD",
  description: "A request that has to wait for a worker has its image decoded meanwhile, in a " +
    "decode worker started when one first waits (off: each worker decodes the jobs it takes, " +
    "and a server under load holds 50-70 MB less).",
};

/** What a ms of worker time costs under load, in expected top-1. */
export const TIME_PRICE: NumberOption = {
  kind: "number",
  name: "time_price",
  min: 0,
  max: 10,
  env: "EDGEMERGE_TIME_PRICE",
  description: "Under load a run's time costs the requests arriving meanwhile: budgeted plans " +
    "are ranked by expected top-1 minus this x arrivals per ms per worker x predicted ms (0: " +
    `accuracy alone; an idle server is not affected). Default by backend: ${
      defaultTimePrice("wasm")
    } on wasm, ${defaultTimePrice("native")} on native and webgpu, as measured ` +
    "(docs/PERFORMANCE.md).",
};

/** What the server leaves of each budget for the time it cannot see. */
export const OUTSIDE_MS: NumberOption = {
  kind: "number",
  name: "outside_ms",
  min: 0,
  max: 10_000,
  default: DEFAULT_OUTSIDE_MS,
  env: "EDGEMERGE_OUTSIDE_MS",
  description: "Ms of every budget spent outside the server's view (the network both ways, the " +
    "client's HTTP): each budget is planned as that much shorter. The default is what a client " +
    "on the same machine sees; add the round trip for remote clients.",
};

/** Whether native thread pools spin between ops. */
export const SPIN: ChoiceOption<"auto" | "on" | "off"> = {
  kind: "choice",
  name: "spin",
  choices: ["auto", "on", "off"],
  default: "auto",
  env: "EDGEMERGE_SPIN",
  description: "Native: let each worker's thread pool spin between the ops of a run (it stops " +
    "when the run ends). It makes one request at a time faster, but under load the spinning " +
    "threads take the cores that HTTP and decoding need; auto spins only where the workers' " +
    "threads leave a core free for them.",
};

/** Whether every method shares one session per worker. */
export const SESSIONS: ChoiceOption<SessionLayout> = {
  kind: "choice",
  name: "sessions",
  choices: SESSION_LAYOUTS,
  default: "shared",
  env: "EDGEMERGE_SESSIONS",
  description: "shared: one session per worker holding every method's merge step (one copy of " +
    "the weights); per-method: a session per method with only its own step, faster when " +
    "clients mostly ask for one method, at a copy of the weights each.",
};

/**
 * Whether pools spin, for `setting` and `threads` inference threads in all on `cores` cores.
 * Under load on 2 cores, 1 worker x 2 spinning threads answered fewer requests in budget than
 * the same without spinning, also with pools that stop spinning when a run ends
 * (docs/PERFORMANCE.md), so auto keeps a core for the main thread.
 *
 * @example
 * ```ts
 * spinPools("auto", 2, 2); // false: no core would be left for HTTP and decoding
 * spinPools("auto", 2, 4); // true
 * ```
 */
export function spinPools(setting: "auto" | "on" | "off", threads: number, cores: number): boolean {
  return setting === "auto" ? threads < cores : setting === "on";
}

/** The models served: `--model`, several at once. */
export const MODEL_DIRS: StringOption = {
  ...MODEL_DIR,
  description: `${MODEL_DIR.description} The service takes several, comma-separated (a ` +
    "request's model picks one; default the first).",
};

/** Every setting, in help order. */
export const SERVER_SETTINGS: readonly OptionSpec[] = [
  MODEL_DIRS,
  HOST,
  PORT,
  BACKEND,
  THREADS,
  KV,
  WORKERS,
  QUEUE,
  JOB_TIMEOUT_MS,
  MAX_BATCH,
  REPLAN,
  SEGMENT_BLOCKS,
  RESOLUTIONS,
  MIN_RESOLUTION,
  DECODE_AHEAD,
  TIME_PRICE,
  OUTSIDE_MS,
  SPIN,
  SESSIONS,
  MAX_UPLOADS,
  BODY_TIMEOUT_MS,
  DRAIN_MS,
];

/** The settings, from `parseArgs` values and the environment. */
export function readSettings(values: Record<string, unknown>) {
  return {
    model: argValue(MODEL_DIRS, values),
    host: argValue(HOST, values)!,
    port: argValue(PORT, values)!,
    backend: argValue(BACKEND, values)!,
    threads: argValue(THREADS, values),
    kv: argValue(KV, values),
    workers: argValue(WORKERS, values)!,
    queue: argValue(QUEUE, values)!,
    jobTimeoutMs: argValue(JOB_TIMEOUT_MS, values)!,
    maxBatch: argValue(MAX_BATCH, values)!,
    replan: argValue(REPLAN, values)!,
    segmentBlocks: argValue(SEGMENT_BLOCKS, values)!,
    resolutions: argValue(RESOLUTIONS, values) === "on",
    minResolution: argValue(MIN_RESOLUTION, values)!,
    decodeAhead: argValue(DECODE_AHEAD, values) === "on",
    timePrice: argValue(TIME_PRICE, values),
    outsideMs: argValue(OUTSIDE_MS, values)!,
    spin: argValue(SPIN, values)!,
    sessions: argValue(SESSIONS, values)!,
    limits: {
      maxUploads: argValue(MAX_UPLOADS, values)!,
      bodyTimeoutMs: argValue(BODY_TIMEOUT_MS, values)!,
    },
    drainMs: argValue(DRAIN_MS, values)!,
  };
}
