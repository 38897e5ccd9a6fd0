/**
 * How the API gets images classified: one interface, two implementations. `WorkerPool`
 * (`workers/pool.ts`) runs jobs in Web Workers behind a bounded queue; `LocalInference` runs
 * them in-process (tests, single-threaded edge runtimes). Both run a job with `runJob`.
 * @module
 */
import type { HostTensor } from "../backend/session.ts";
import type { Prediction } from "./classifier.ts";
import { DEFAULT_REDUCTION } from "../merge/schedule.ts";
import { explainMerges } from "./explain.ts";
import type { Engine } from "./engine.ts";

/** A prediction in milliseconds. */
export interface Estimate {
  mean: number;
  upper: number;
}

/** Work ahead of a new job. */
export interface Backlog {
  /** Each running job (or batch): how long it has run, and its predicted service time if known. */
  running: { elapsedMs: number; serviceTime?: Estimate }[];
  /** Each waiting job's predicted service time, if known. */
  queued: { serviceTime?: Estimate }[];
  workers: number;
}

/** One image to classify. */
export interface ClassifyJob {
  method: string;
  /** Merge schedule (`r` per block); solved from `reduction` when absent. */
  schedule?: number[];
  reduction?: number;
  /** AdaMerge's threshold (default: the method's). */
  theta?: number;
  topK: number;
  image: Uint8Array;
  /** Also draw the merge groups (`ClassifyResult.explainPng`). */
  explain?: boolean;
  /**
   * Jobs with the same key may run as one batch: set only for a fixed, non-adaptive operating
   * point (adaptive methods merge a batch at its smallest `r`, so they run alone).
   */
  batchKey?: string;
  /** Predicted decode + inference time (what later requests will queue behind). */
  serviceTime?: Estimate;
}

/** What a job returns. */
export interface ClassifyResult {
  top: Prediction[];
  schedule: number[];
  tokens: number[];
  gmacs: number;
  backend: string;
  decodeMs: number;
  inferMs: number;
  /** Time spent waiting for a worker. */
  queueMs: number;
  /** Images in the batch this job ran in. */
  batch: number;
  /** The job waited for its method's session to start (not a latency sample). */
  coldStart: boolean;
  explainPng?: Uint8Array;
}

/** Something that classifies jobs. */
export interface Inference {
  classify(job: ClassifyJob): Promise<ClassifyResult>;
  readonly backend: string;
  /** Jobs waiting, jobs running, and how many can run at once. */
  readonly queueDepth: number;
  readonly running: number;
  readonly workers: number;
  /** What a new job would wait behind. */
  backlog(): Backlog;
  /** Starts the sessions of `methods` ahead of their first request. */
  warm(methods: string[]): Promise<void>;
  /** Stops intake and finishes the work in hand. */
  drain(): Promise<void>;
}

/**
 * Runs jobs sharing an operating point (the first job's) as one batch: decode, preprocess,
 * schedule, inference. A job whose image fails gets its error; the others still run.
 */
export async function runBatch(
  engine: Engine,
  jobs: ClassifyJob[],
): Promise<(ClassifyResult | Error)[]> {
  const [first] = jobs;
  const coldStart = !engine.started();
  const { classifier, method } = await engine.runner(first.method);
  const t0 = performance.now();
  const inputs = await Promise.all(
    jobs.map((job) => classifier.prepare(job.image).catch((e: Error) => e)),
  );
  const t1 = performance.now();
  const schedule = first.schedule ??
    classifier.scheduleFor(first.reduction ?? DEFAULT_REDUCTION, {}, method);
  const feeds: Record<string, HostTensor> = first.theta === undefined
    ? {}
    : { theta: { data: Float32Array.of(first.theta), dims: [1] } };
  const decoded = inputs.filter((x): x is Float32Array => !(x instanceof Error));
  const outs = decoded.length > 0 ? await classifier.run(decoded, schedule, feeds, method) : [];
  const t2 = performance.now();
  let k = 0;
  return await Promise.all(jobs.map(async (job, i) => {
    const input = inputs[i];
    if (input instanceof Error) return input;
    const out = outs[k++];
    const explainPng = job.explain
      ? await explainMerges(await engine.runner(first.method, true), job.image, schedule, feeds)
      : undefined;
    return {
      top: classifier.predictions(out.logits, job.topK),
      schedule,
      tokens: out.tokens,
      gmacs: out.gmacs,
      backend: classifier.session.backend,
      decodeMs: t1 - t0,
      inferMs: t2 - t1,
      queueMs: 0,
      batch: jobs.length,
      coldStart,
      ...(explainPng && { explainPng }),
    };
  }));
}

/** Runs one job (a batch of one); throws its error. */
export async function runJob(engine: Engine, job: ClassifyJob): Promise<ClassifyResult> {
  const [result] = await runBatch(engine, [job]);
  if (result instanceof Error) throw result;
  return result;
}
