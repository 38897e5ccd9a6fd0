/**
 * Messages between the pool and its inference workers.
 * @module
 */
import type { BackendChoice } from "../lib/backend/session.ts";
import type { PreprocessConfig } from "../lib/image/preprocess.ts";
import type { SaliencyPrior } from "../lib/saliency/prior.ts";
import type { SessionLayout } from "../lib/runtime/engine.ts";
import type { ClassifyJob, ClassifyResult, ReplanMode } from "../lib/runtime/jobs.ts";

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
  /** How budgeted jobs re-plan between segments (default `on`). */
  replan?: ReplanMode;
  /** Blocks per segment of the serving graph (default `DEFAULT_SEGMENT`). */
  segmentBlocks?: number;
  /** Methods whose sessions start before the worker reports ready. */
  warm: string[];
  /** The saliency prior for SAD-TM methods (read from KV by the main thread). */
  prior?: SaliencyPrior;
  /** Fault injection (tests): every worker, replacements too, crashes on its first job. */
  fault?: "crash";
  /** The pool's `QueueState`, kept up to date by the pool. */
  queue?: SharedArrayBuffer;
}

/**
 * What the pool's queue tells its workers between messages, in shared memory: how many jobs wait,
 * and the epoch ms by which running jobs should end for them (`DeadlineQueue.finishBy`).
 *
 * @example
 * ```ts
 * const state = new QueueState();
 * state.write(2, 1_700_000_000_000);
 * new QueueState(state.buffer).waiting(); // 2, in a worker given the buffer
 * ```
 */
export class QueueState {
  readonly #length: Int32Array;
  /** Microseconds since the epoch (0: no budgeted job waits). */
  readonly #finishBy: BigInt64Array;

  constructor(readonly buffer = new SharedArrayBuffer(16)) {
    this.#length = new Int32Array(buffer, 0, 1);
    this.#finishBy = new BigInt64Array(buffer, 8, 1);
  }

  /** Sets the state (pool side). */
  write(length: number, finishBy: number | undefined): void {
    Atomics.store(this.#length, 0, length);
    const us = finishBy === undefined || !Number.isFinite(finishBy)
      ? 0
      : Math.round(finishBy * 1e3);
    Atomics.store(this.#finishBy, 0, BigInt(us));
  }

  /** Jobs waiting for a worker. */
  waiting(): number {
    return Atomics.load(this.#length, 0);
  }

  /** Epoch ms by which running jobs should end for the waiting ones (undefined: none). */
  finishBy(): number | undefined {
    const us = Atomics.load(this.#finishBy, 0);
    return us === 0n ? undefined : Number(us) / 1e3;
  }
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
