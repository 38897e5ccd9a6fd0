/**
 * How the API gets images classified: one interface, two implementations. `WorkerPool`
 * (`workers/pool.ts`) runs jobs in Web Workers behind a deadline queue; `LocalInference` runs
 * them in-process (tests, single-threaded edge runtimes). Both run a job with `runBatch`: a
 * budgeted job runs in segments and, between them, re-plans the rest of its schedule from the
 * time left.
 * @module
 */
import type { HostTensor } from "../backend/session.ts";
import { atResolution, tokenCount, type ViTConfig } from "../checkpoint/config.ts";
import { blockGmacs, endsGmacs, gmacs } from "../merge/cost.ts";
import type { MergeMethod } from "../merge/step.ts";
import type { Classifier, Prediction, SegmentState } from "./classifier.ts";
import { DEFAULT_REDUCTION, type SpreadKind } from "../merge/schedule.ts";
import { explainMerges } from "./explain.ts";
import type { Engine } from "./engine.ts";

/** Work ahead of a new job: the least time each running and queued job still needs. */
export interface Backlog {
  /** Each running job (or batch): how long it has run, and its predicted service time. */
  running: { elapsedMs: number; serviceMs?: number }[];
  /** Each waiting job's least service time, if known. */
  queued: { serviceMs?: number }[];
  workers: number;
}

/** What planning needs of the timing and accuracy models, as plain data (it crosses to workers). */
export interface PlanModel {
  /** Timing coefficients (see `lib/budget/timing.ts`). */
  coef: readonly number[];
  /** Tail multiplier on predicted time (what "fits" means). */
  factor: number;
  /**
   * Recent actual/predicted time ratios, sorted (a few dozen quantiles): the chance a plan
   * makes the time left. Empty until enough were seen (then `factor` alone decides).
   */
  ratios: readonly number[];
  /** How the plan spreads merges over the blocks left (`spreadMerges`). */
  kind: SpreadKind;
  /** Pixels the run started at, below the model's own (`atResolution`; absent: its own). */
  resolution?: number;
  /** The accuracy curve of the method in that family: `(gmacs, top1)` by increasing GMACs. */
  curve: readonly (readonly [number, number])[];
  /** Blocks per segment (each segment is one session run). */
  segment: number;
  /**
   * Expected top-1 a ms of this run costs the requests that arrive meanwhile (0 when none
   * arrive): plans are ranked by their score minus this times their predicted time.
   */
  price: number;
  /**
   * Rank every plan with a chance of making the time left (true), or only those whose predicted
   * time times `factor` fits (false: what a job that others wait behind plans with, so that a
   * likely-late run does not make them late too).
   */
  byChance: boolean;
}

/** Where a run is: the next block, the tokens entering it, the GMACs spent so far. */
export interface Progress {
  block: number;
  tokens: number;
  gmacs: number;
}

/** How a job re-plans between segments (sent with it to the worker). */
export interface RunControl {
  model: PlanModel;
  /** No merging before this block (delayed methods). */
  tau: number;
  /** Kept for what follows inference (messages, HTTP, serialisation), ms. */
  reserveMs: number;
  /**
   * Whether a re-plan may merge less than planned. Off when other jobs waited at dispatch: the
   * time this one saves belongs to them (the load bench lost 6 points of effective accuracy at
   * 70 % load when early runs spent their slack on themselves).
   */
  mayLighten: boolean;
}

/**
 * The rest of a run's schedule, from where it is and the ms left; undefined: keep the plan.
 * `mustFit`: only a plan predicted to make `leftMs` at the tail factor, else undefined.
 */
export type Replanner = (
  config: ViTConfig,
  method: MergeMethod | undefined,
  control: RunControl,
  progress: Progress,
  leftMs: number,
  mustFit?: boolean,
) => number[] | undefined;

/** How a budgeted job runs, decided when a worker takes it. */
export interface Decided {
  method: string;
  schedule: number[];
  theta?: number;
  resolution?: number;
  control?: RunControl;
  /** Predicted time from now to the answer (median). */
  predictedMs: number;
  /** Not even the cheapest schedule is predicted to make the deadline. */
  hopeless?: boolean;
  /** The deadline it runs to, when sooner than its own (to leave time for the jobs behind). */
  deadline?: number;
}

/** One image to classify. */
export interface ClassifyJob {
  method: string;
  /** Merge schedule (`r` per block); solved from `reduction` when absent. */
  schedule?: number[];
  reduction?: number;
  /** AdaMerge's threshold (default: the method's). */
  theta?: number;
  /** Pixels the image is resized to before the patches (`atResolution`; default the model's own). */
  resolution?: number;
  topK: number;
  image: Uint8Array;
  /** Also draw the merge groups (`ClassifyResult.explainPng`). */
  explain?: boolean;
  /**
   * Jobs with the same key may run as one batch: set only for a fixed, non-adaptive operating
   * point (adaptive methods merge a batch at its smallest `r`, so they run alone).
   */
  batchKey?: string;
  /** The least service time it will need (what later requests queue behind). */
  serviceMs?: number;
  /** Epoch ms by which the answer is due (budgeted requests). */
  deadline?: number;
  /**
   * Budgeted jobs: how it runs, from the time left when a worker takes it (main thread; never
   * sent to a worker), or the error to answer instead. `limitMs`: finish within this, if it can,
   * so that the jobs waiting behind it can still make their deadlines. `decoded`: its image was
   * decoded while it waited (`prepared`), so no decode time is left to plan for.
   */
  decide?: (limitMs?: number, decoded?: boolean) => Decided | Error;
  /** Re-plan between segments (set by `decide`; needs `deadline`). */
  control?: RunControl;
  /** Run in segments, as budgeted jobs do, even without re-planning (calibration). */
  segmented?: boolean;
  /** Aborts when the client leaves: a queued job is then dropped (main thread only). */
  signal?: AbortSignal;
  /** The image already preprocessed while the job waited (`prepareInput`), and the ms it took. */
  prepared?: { input: Float32Array<ArrayBuffer>; ms: number };
}

/** One segment as run. */
export interface SegmentRun {
  /** Blocks `from .. to-1`. */
  from: number;
  to: number;
  ms: number;
}

/** What a job returns. */
export interface ClassifyResult {
  top: Prediction[];
  method: string;
  /** The schedule as run (after any re-planning). */
  schedule: number[];
  /** The schedule planned when the job started. */
  planned: number[];
  /** The family a budgeted plan spread its merges in (absent: not planned, or constant). */
  kind?: SpreadKind;
  /** Re-plans that changed the schedule, and how many merges they added (+) or removed (-). */
  replans: number;
  replanDelta: number;
  tokens: number[];
  gmacs: number;
  backend: string;
  decodeMs: number;
  inferMs: number;
  segments: SegmentRun[];
  /** AdaMerge's threshold, when the job set one. */
  theta?: number;
  /** Pixels the run started at, when below the model's own. */
  resolution?: number;
  /** Time spent waiting for a worker. */
  queueMs: number;
  /** The image was decoded while the job waited (`decodeMs` then overlaps `queueMs`). */
  decodedAhead: boolean;
  /** What the budget predicted from the worker taking it to the answer (budgeted jobs). */
  predictedMs?: number;
  /** Images in the batch this job ran in. */
  batch: number;
  /** The job waited for the session to start (not a latency sample). */
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
  /**
   * The error a new job would be refused with now (queue full, draining), if any: checked before
   * a request's body is read.
   */
  refusal(): Error | undefined;
  /** Starts the sessions of `methods` ahead of their first request. */
  warm(methods: string[]): Promise<void>;
  /** Stops intake and finishes the work in hand (within `deadlineMs`, if given). */
  drain(deadlineMs?: number): Promise<void>;
}

/**
 * How budgeted jobs re-plan between segments: `on`, from their own time left and hurried for the
 * jobs waiting (`RunOptions.finishBy`); `own`, from their own time left only; `off`, never (only
 * to measure what re-planning brings).
 */
export type ReplanMode = "on" | "own" | "off";

/** What `runBatch` needs besides the engine. */
export interface RunOptions {
  /** Re-plans budgeted jobs between segments (none: their schedule stays as decided). */
  replan?: Replanner;
  /** Epoch ms now (a fake clock in tests). */
  clock?: () => number;
  /**
   * Whether other jobs wait for a worker now. A re-plan then keeps at least the planned merging:
   * a run made longer would make them wait longer (the load bench at 50-90 % load answered
   * 10-14 points fewer requests in budget when early runs always spent their slack on themselves).
   */
  othersWaiting?: () => boolean;
  /**
   * Epoch ms by which this run should end for the jobs waiting to make their deadlines
   * (`DeadlineQueue.finishBy`). A re-plan hurries to it when a plan still fits, as a job taken
   * from the queue does for those behind it; otherwise it plans for its own deadline.
   */
  finishBy?: () => number | undefined;
}

/** Epoch ms with sub-ms precision: what deadlines are in, on every thread alike. */
export const epochNow = (): number => performance.timeOrigin + performance.now();

/** GMACs of the embedding, the head and the blocks a segment state has run. */
function progressOf(config: ViTConfig, state: SegmentState): Progress {
  let gmacs = endsGmacs(config);
  for (let l = 0; l + 1 < state.tokens.length; l++) {
    gmacs += blockGmacs(config, state.tokens[l], state.tokens[l + 1]);
  }
  return { block: state.block, tokens: state.tokens.at(-1) ?? tokenCount(config), gmacs };
}

/**
 * The re-planned rest of a run: hurried to `options.finishBy` for the jobs waiting when a plan
 * still makes it before the run's own deadline, otherwise planned for that deadline.
 */
function replanRest(
  config: ViTConfig,
  method: MergeMethod | undefined,
  control: RunControl,
  progress: Progress,
  { deadline, clock, options }: { deadline: number; clock: () => number; options: RunOptions },
): number[] | undefined {
  if (!options.replan) return undefined;
  const by = options.finishBy?.();
  if (by !== undefined && by < deadline) {
    const hurried = options.replan(
      config,
      method,
      control,
      progress,
      by - clock() - control.reserveMs,
      true,
    );
    if (hurried) return hurried;
  }
  return options.replan(config, method, control, progress, deadline - clock() - control.reserveMs);
}

/**
 * One budgeted image in segments: after each, what is left of the time re-plans the rest of the
 * schedule (the last segment runs as planned).
 */
async function runSegments(
  classifier: Classifier,
  method: MergeMethod | undefined,
  job: ClassifyJob,
  input: Float32Array,
  planned: number[],
  feeds: Record<string, HostTensor>,
  options: RunOptions,
) {
  const clock = options.clock ?? epochNow;
  const { depth } = classifier.bundle.config;
  const at = atResolution(
    classifier.bundle.config,
    job.resolution ?? classifier.bundle.config.imgSize,
  );
  const length = classifier.segmentLength;
  let schedule = [...planned];
  let from: Float32Array[] | SegmentState = [input];
  let replans = 0, replanDelta = 0;
  const segments: SegmentRun[] = [];
  for (let start = 0; start < depth;) {
    const end = Math.min(depth, start + length);
    const t0 = clock();
    const result = await classifier.runSegment(from, end, schedule, feeds, method, job.resolution);
    segments.push({ from: start, to: end, ms: clock() - t0 });
    if (end === depth) {
      return {
        logits: result.logits![0],
        tokens: result.state.tokens,
        schedule,
        segments,
        replans,
        replanDelta,
      };
    }
    const { control, deadline } = job;
    const rest = control && deadline !== undefined
      ? replanRest(classifier.bundle.config, method, control, progressOf(at, result.state), {
        deadline,
        clock,
        options,
      })
      : undefined;
    const lighter = rest && rest.slice(end).reduce((s, r, i) => s + r - schedule[end + i], 0) < 0;
    const mayLighten = control?.mayLighten && !options.othersWaiting?.();
    if (rest && (mayLighten || !lighter)) {
      const next = [...schedule.slice(0, end), ...rest.slice(end)];
      const delta = next.slice(end).reduce((s, r, i) => s + r - schedule[end + i], 0);
      if (next.some((r, l) => r !== schedule[l])) {
        replans++;
        replanDelta += delta;
      }
      schedule = next;
    }
    from = result.state;
    start = end;
  }
  throw new Error("unreachable: a run ends at the last block");
}

/**
 * Runs jobs sharing an operating point (the first job's) as one batch: decode, preprocess,
 * schedule, inference. A budgeted job (one at a time) runs in segments and re-plans between
 * them. A job whose image fails gets its error; the others still run.
 */
export async function runBatch(
  engine: Engine,
  jobs: ClassifyJob[],
  options: RunOptions = {},
): Promise<(ClassifyResult | Error)[]> {
  const [first] = jobs;
  const coldStart = !engine.started(first.method);
  const { classifier, method } = await engine.runner(first.method);
  const t0 = performance.now();
  const inputs = await Promise.all(
    jobs.map((job) => job.prepared?.input ?? classifier.prepare(job.image).catch((e: Error) => e)),
  );
  const t1 = performance.now();
  const { resolution } = first;
  const at = atResolution(classifier.bundle.config, resolution ?? classifier.bundle.config.imgSize);
  const planned = first.schedule ??
    classifier.scheduleFor(first.reduction ?? DEFAULT_REDUCTION, { resolution }, method);
  const feeds: Record<string, HostTensor> = first.theta === undefined
    ? {}
    : { theta: { data: Float32Array.of(first.theta), dims: [1] } };
  const decoded = inputs.filter((x): x is Float32Array => !(x instanceof Error));
  const budgeted = first.control !== undefined && first.deadline !== undefined;
  const segmented = jobs.length === 1 && decoded.length === 1 && (budgeted || first.segmented) &&
    classifier.segmentLength > 0 && !method?.adaptive;
  const run = segmented
    ? await runSegments(classifier, method, first, decoded[0], planned, feeds, options)
    : undefined;
  const outs = run
    ? [{ logits: run.logits, tokens: run.tokens }]
    : decoded.length > 0
    ? await classifier.run(decoded, planned, feeds, method, resolution)
    : [];
  const t2 = performance.now();
  const schedule = run?.schedule ?? planned;
  const { depth } = classifier.bundle.config;
  let k = 0;
  return await Promise.all(jobs.map(async (job, i) => {
    const input = inputs[i];
    if (input instanceof Error) return input;
    const out = outs[k++];
    const explainPng = job.explain
      ? await explainMerges(
        await engine.runner(first.method, true),
        job.image,
        schedule,
        feeds,
        resolution,
      )
      : undefined;
    const tokens = out.tokens;
    return {
      top: classifier.predictions(out.logits, job.topK),
      method: first.method,
      ...(first.theta !== undefined && { theta: first.theta }),
      ...(at !== classifier.bundle.config && { resolution: at.imgSize }),
      schedule,
      planned,
      ...(first.control && first.control.model.kind !== "constant" &&
        { kind: first.control.model.kind }),
      replans: run?.replans ?? 0,
      replanDelta: run?.replanDelta ?? 0,
      tokens,
      gmacs: gmacs(at, tokens),
      backend: classifier.session.backend,
      decodeMs: job.prepared?.ms ?? t1 - t0,
      decodedAhead: job.prepared !== undefined,
      inferMs: t2 - t1,
      segments: run?.segments ?? [{ from: 0, to: depth, ms: t2 - t1 }],
      queueMs: 0,
      batch: jobs.length,
      coldStart,
      ...(explainPng && { explainPng }),
    };
  }));
}

/** Runs one job (a batch of one); throws its error. */
export async function runJob(
  engine: Engine,
  job: ClassifyJob,
  options: RunOptions = {},
): Promise<ClassifyResult> {
  const [result] = await runBatch(engine, [job], options);
  if (result instanceof Error) throw result;
  return result;
}
