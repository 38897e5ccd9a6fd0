/**
 * Messages between the pool and its inference workers.
 * @module
 */
import type { BackendChoice } from "../lib/backend/session.ts";
import type { PreprocessConfig } from "../lib/image/preprocess.ts";
import type { SaliencyPrior } from "../lib/saliency/prior.ts";
import type { SessionLayout } from "../lib/runtime/engine.ts";
import type { ClassifyJob, ClassifyResult } from "../lib/runtime/jobs.ts";

/** Sent once, right after the worker starts. */
export interface InitMessage {
  type: "init";
  model: string;
  backend: BackendChoice;
  threads?: number;
  /** Native: let thread pools spin (main.ts decides, with `spinPools`). */
  spin?: boolean;
  /** How methods share sessions (default `shared`). */
  sessions?: SessionLayout;
  /** Budgeted jobs re-plan between segments (default true; off to measure what it brings). */
  replan?: boolean;
  /** Methods whose sessions start before the worker reports ready. */
  warm: string[];
  /** The saliency prior for SAD-TM methods (read from KV by the main thread). */
  prior?: SaliencyPrior;
  /** Fault injection (tests): every worker, replacements too, crashes on its first job. */
  fault?: "crash";
  /** One Int32: how many jobs wait in the pool's queue, kept up to date by the pool. */
  waiting?: SharedArrayBuffer;
}

/** A job as sent to a worker. */
export interface JobMessage extends Omit<ClassifyJob, "decide"> {
  type: "job";
  id: number;
}

/** Jobs the worker runs together (one job, or a batch sharing an operating point). */
export interface BatchMessage {
  type: "batch";
  jobs: JobMessage[];
}

/** Start the sessions of these methods now (answered by `warmed` with the same id). */
export interface WarmMessage {
  type: "warm";
  id: number;
  methods: string[];
}

/** Fault injection (tests, chaos drills): the worker's next job crashes or hangs it. */
export interface FaultMessage {
  type: "fault";
  kind: "crash" | "hang";
}

/** Pool -> worker. */
export type PoolMessage = InitMessage | BatchMessage | WarmMessage | FaultMessage;

/** Worker -> pool. */
export type WorkerMessage =
  | { type: "ready"; backend: string; reason: string }
  | { type: "init_error"; message: string }
  | { type: "warmed"; id: number }
  | { type: "result"; id: number; result: ClassifyResult }
  | {
    type: "error";
    id: number;
    name: string;
    code?: string;
    message: string;
    /** A `UserError` (bad input, method unavailable): its message is for the client. */
    user: boolean;
  };

/** Pool -> decode worker: first its preprocessing, then images to preprocess. */
export type DecoderMessage =
  | { type: "init"; preprocess: PreprocessConfig }
  | { type: "decode"; id: number; image: Uint8Array };

/** Decode worker -> pool: the model input and the ms it took (no input: it failed). */
export interface DecodeReply {
  id: number;
  input?: Float32Array<ArrayBuffer>;
  ms?: number;
}
