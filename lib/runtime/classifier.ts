/**
 * A `Classifier` owns a model bundle, its built graph (with a merge method inside, or none) and a
 * session, and turns preprocessed images into logits, token counts and GMACs. `lib/pipeline.ts`
 * is the one-line entry over it.
 * @module
 */
import {
  createSession,
  type HostTensor,
  type Session,
  type SessionOptions,
} from "../backend/session.ts";
import { imageToTensor } from "../image/preprocess.ts";
import { DEFAULT_CEILING } from "../merge/adamerge.ts";
import { gmacs } from "../merge/cost.ts";
import type { MergeMethod, MethodOptions, PreparedMethod } from "../merge/step.ts";
import {
  clampSchedule,
  constantSchedule,
  scheduleForReduction,
  type TargetOptions,
} from "../merge/schedule.ts";
import { loadModelBundle, type ModelBundle } from "../checkpoint/bundle.ts";
import { atResolution, ResolutionError, tokenCount, type ViTConfig } from "../checkpoint/config.ts";
import { segmentLength, uniqueSteps } from "../vit/graph.ts";
import { withCachedGraph } from "../vit/graph_cache.ts";

/** Schedules `scheduleFor` keeps (then it starts over: a client cycling through reductions). */
const SCHEDULES_KEPT = 256;

/** One class of a prediction. */
export interface Prediction {
  index: number;
  label: string;
  score: number;
}

/** Raw outputs for one image. */
export interface ImageOutput {
  logits: Float32Array;
  /** Tokens entering each block, then leaving the last. */
  tokens: number[];
  gmacs: number;
  /** With a merge method: final token of every patch, and patches per final token. */
  sourceMap?: number[];
  sizes?: number[];
}

/** Options for `Classifier.load`. */
export interface ClassifierOptions extends SessionOptions, MethodOptions {
  /** Model directory in timm's hub layout. */
  model: string;
  /**
   * Merge method(s) built into the graph (none: the plain ViT). With several, one session
   * serves them all (one copy of the weights) and each run names its method.
   */
  method?: MergeMethod | MergeMethod[];
  /** Also track and output where each patch ends up (`ImageOutput.sourceMap`). */
  sources?: boolean;
  /** Build the graph so that ranges of blocks can run (`runSegment`); a number: blocks per segment. */
  segments?: boolean | number;
}

/** The token state between two segments of a run (`runSegment`), and what it has cost so far. */
export interface SegmentState {
  /** Named state tensors (`x`, `size`, carried sums), as the graph's `*_in` inputs take them. */
  tensors: Record<string, HostTensor>;
  /** Tokens entering each block run so far, then leaving the last one run. */
  tokens: number[];
  /** The next block to run. */
  block: number;
}

/** What a segment returns: the state after it, and the logits when it ended the model. */
export interface SegmentResult {
  state: SegmentState;
  logits?: Float32Array[];
}

/** What a method's extra inputs are fed with, or why it cannot run here. */
type Prepared = PreparedMethod | Error;

/**
 * Softmax probabilities of the `k` highest logits, highest first (equal logits: lower index
 * first). One pass keeping the best `k` in order: sorting all 1000 classes took 0.2-0.3 ms of
 * every answer.
 * @example
 * ```ts
 * topK(Float32Array.of(0, 2, 1), 2, ["a", "b", "c"]); // b, then c
 * ```
 */
export function topK(logits: Float32Array, k: number, labels: string[]): Prediction[] {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const order: number[] = [];
  const keep = Math.min(Math.max(0, Math.trunc(k)), logits.length);
  for (let i = 0; keep > 0 && i < logits.length; i++) {
    const v = logits[i];
    if (order.length === keep && !(v > logits[order[keep - 1]])) continue;
    let j = Math.min(order.length, keep - 1);
    for (; j > 0 && logits[order[j - 1]] < v; j--) order[j] = order[j - 1];
    order[j] = i;
  }
  return order.map((i) => ({ index: i, label: labels[i], score: Math.exp(logits[i] - max) / sum }));
}

/** A loaded model with its session. */
export class Classifier {
  private constructor(
    readonly bundle: ModelBundle,
    readonly session: Session,
    /** The methods built in; the first is the default of `run` and `scheduleFor`. */
    readonly methods: MergeMethod[],
    private readonly prepared: Map<string, Prepared>,
    /** Blocks per segment (`runSegment` starts and ends at their multiples); 0: unsegmented. */
    readonly segmentLength: number,
  ) {}

  /** Loads the model, builds its graph (with `method` inside) and starts a session. */
  static async load(options: ClassifierOptions): Promise<Classifier> {
    return Classifier.fromBundle(await loadModelBundle(options.model), options);
  }

  /** A classifier for an already loaded bundle (several classifiers may share one bundle). */
  static async fromBundle(
    bundle: ModelBundle,
    options: Omit<ClassifierOptions, "model">,
  ): Promise<Classifier> {
    // A segment's state would have to carry the source map in and out; nothing needs both.
    if (options.sources && options.segments) {
      throw new Error(
        "a graph with source maps runs in one piece: sources and segments exclude each other",
      );
    }
    const methods = options.method === undefined
      ? []
      : Array.isArray(options.method)
      ? options.method
      : [options.method];
    const prepared = new Map<string, Prepared>();
    for (const m of methods) {
      const done = await Promise.resolve()
        .then(() => m.prepare?.(bundle.config, options))
        .catch((e: Error) => e);
      // A single method that cannot start is an error now; in a shared session, only its runs.
      if (done instanceof Error && methods.length === 1) throw done;
      prepared.set(m.name, done ?? { feeds: {} });
    }
    const session = await withCachedGraph(bundle, options.method, {
      sources: options.sources,
      segments: options.segments,
    }, (graph) => createSession(graph, options));
    // The session holds the weights now: keep the config, labels and preprocessing only.
    const light = { ...bundle, weights: new Map() };
    const length = options.segments ? segmentLength(bundle.config, options) : 0;
    return new Classifier(light, session, methods, prepared, length);
  }

  /** The default method (the first built in; none for the plain model). */
  get method(): MergeMethod | undefined {
    return this.methods[0];
  }

  /** Blocks without merging that `method`'s data suggests (SAD-TM-DM: from the prior). */
  suggestedTau(method = this.method): number | undefined {
    const p = method && this.prepared.get(method.name);
    return p && !(p instanceof Error) ? p.suggestedTau : undefined;
  }

  /** Every method input's value for a run of `method` (throws why `method` cannot run). */
  #methodFeeds(method: MergeMethod | undefined): Record<string, HostTensor> {
    const feeds: Record<string, HostTensor> = {};
    // Inputs of methods that cannot run still need a value: zeros of their shape.
    for (const m of this.methods) {
      for (const input of m.inputs?.(this.bundle.config) ?? []) {
        const n = input.dims.reduce((a, b) => a * b, 1);
        feeds[input.name] ??= { data: new Float32Array(n), dims: input.dims };
      }
    }
    for (const p of this.prepared.values()) {
      if (!(p instanceof Error)) Object.assign(feeds, p.feeds);
    }
    if (method) {
      const own = this.prepared.get(method.name);
      if (own instanceof Error) throw own;
      Object.assign(feeds, own?.feeds);
    }
    const steps = uniqueSteps(this.methods);
    if (steps.length > 1) {
      const step = method ? steps.findIndex((s) => s.plan === method.plan) : 0;
      if (step < 0) throw new Error(`method ${method!.name} is not built into this graph`);
      feeds.step = { data: BigInt64Array.of(BigInt(step)), dims: [1] };
    }
    return feeds;
  }

  /**
   * The config of a run at `resolution` pixels (default the model's own; `atResolution`), and
   * the graph input that asks for it. Only a graph with a merge method takes a resolution.
   */
  #resolution(resolution: number | undefined): {
    config: ViTConfig;
    feeds: Record<string, HostTensor>;
  } {
    const own = this.bundle.config;
    if (this.methods.length === 0) {
      if (resolution !== undefined && resolution !== own.imgSize) {
        throw new ResolutionError(
          `resolution ${resolution}: only a graph with a merge method runs below ${own.imgSize}`,
        );
      }
      return { config: own, feeds: {} };
    }
    const config = atResolution(own, resolution ?? own.imgSize);
    return {
      config,
      feeds: { resolution: { data: BigInt64Array.of(BigInt(config.imgSize)), dims: [1] } },
    };
  }

  /** Preprocessed model input for image bytes (`[3, S, S]`); throws `ImageError`. */
  prepare(bytes: Uint8Array): Promise<Float32Array> {
    return imageToTensor(bytes, this.bundle.preprocess);
  }

  /**
   * Runs a batch of preprocessed images with merge schedule `r` (default: no merging);
   * `feeds` overrides method inputs for this run (e.g. `alpha`).
   */
  async run(
    inputs: Float32Array[],
    r?: ArrayLike<number>,
    feeds: Record<string, HostTensor> = {},
    method: MergeMethod | undefined = this.method,
    resolution?: number,
  ): Promise<ImageOutput[]> {
    const { depth, imgSize, numClasses, embedDim } = this.bundle.config;
    const at = this.#resolution(resolution);
    const per = 3 * imgSize * imgSize;
    const batch = new Float32Array(inputs.length * per);
    inputs.forEach((x, i) => batch.set(x, i * per));
    // The graph trusts r: each block gets at most what its tokens allow.
    const clamped = clampSchedule(at.config, method, r ?? []);
    const schedule = BigInt64Array.from(clamped, BigInt);
    const b = inputs.length;
    const out = await this.session.run({
      pixel_values: { data: batch, dims: [b, 3, imgSize, imgSize] },
      r: { data: schedule, dims: [depth] },
      ...at.feeds,
      ...this.#methodFeeds(method),
      ...(this.segmentLength > 0 && {
        start: { data: BigInt64Array.of(0n), dims: [1] },
        end: { data: BigInt64Array.of(BigInt(depth)), dims: [1] },
        ...this.#emptyState(b, embedDim),
      }),
      ...feeds,
    });
    const tokens = Array.from(out.tokens.data as BigInt64Array, Number);
    const cost = gmacs(at.config, tokens);
    const logits = out.logits.data as Float32Array;
    const rows = <T extends Float32Array | BigInt64Array>(
      t: { data: T; dims: readonly number[] },
      i: number,
    ) => Array.from(t.data.slice(i * t.dims[1], (i + 1) * t.dims[1]), Number);
    return inputs.map((_, i) => ({
      logits: logits.slice(i * numClasses, (i + 1) * numClasses),
      tokens,
      gmacs: cost,
      ...(out.source_map && { sourceMap: rows(out.source_map, i), sizes: rows(out.sizes, i) }),
    }));
  }

  /**
   * Runs blocks `state.block .. end-1` (a segmented graph only): from the images when `from` is
   * them, else from the state a previous segment returned. `r` is the whole schedule (entries
   * before the segment are ignored); each block gets at most what its tokens allow. A run from
   * the images starts at `resolution` (default the model's own); later segments go on from the
   * state's tokens.
   */
  async runSegment(
    from: Float32Array[] | SegmentState,
    end: number,
    r: ArrayLike<number>,
    feeds: Record<string, HostTensor> = {},
    method: MergeMethod | undefined = this.method,
    resolution?: number,
  ): Promise<SegmentResult> {
    if (!this.segmentLength) throw new Error("runSegment needs a graph built with segments");
    const { depth, imgSize, numClasses, embedDim } = this.bundle.config;
    const images = Array.isArray(from) ? from : undefined;
    const at = this.#resolution(images ? resolution : undefined);
    const start = images ? 0 : (from as SegmentState).block;
    const tokensIn = images ? tokenCount(at.config) : (from as SegmentState).tokens.at(-1)!;
    const b = images ? images.length : (from as SegmentState).tensors.x.dims[0];
    if ((start % this.segmentLength !== 0) || (end !== depth && end % this.segmentLength !== 0)) {
      throw new Error(`segments run between multiples of ${this.segmentLength} blocks`);
    }
    if (end <= start || end > depth) {
      throw new Error(
        `a segment ends after its start (${start}) and by the depth (${depth}), not at ${end}`,
      );
    }
    const pixels = new Float32Array(images ? b * 3 * imgSize * imgSize : 0);
    images?.forEach((x, i) => pixels.set(x, i * x.length));
    const clamped = clampSchedule(this.bundle.config, method, r, {
      block: start,
      tokens: tokensIn,
    });
    const out = await this.session.run({
      pixel_values: { data: pixels, dims: images ? [b, 3, imgSize, imgSize] : [b, 3, 0, 0] },
      r: { data: BigInt64Array.from(clamped, BigInt), dims: [depth] },
      ...at.feeds,
      ...this.#methodFeeds(method),
      start: { data: BigInt64Array.of(BigInt(start)), dims: [1] },
      end: { data: BigInt64Array.of(BigInt(end)), dims: [1] },
      ...(images ? this.#emptyState(b, embedDim) : Object.fromEntries(
        Object.entries((from as SegmentState).tensors).map(([n, t]) => [`${n}_in`, t]),
      )),
      ...feeds,
    });
    const counts = Array.from(out.tokens.data as BigInt64Array, Number);
    const tensors = Object.fromEntries(
      Object.entries(out).filter(([n]) => n.endsWith("_out")).map(([n, t]) => [n.slice(0, -4), t]),
    );
    const state: SegmentState = {
      tensors,
      tokens: [
        ...(images ? [] : (from as SegmentState).tokens.slice(0, -1)),
        ...counts.slice(start, end + 1),
      ],
      block: end,
    };
    if (end < depth) return { state };
    const logits = out.logits.data as Float32Array;
    return {
      state,
      logits: Array.from(
        { length: b },
        (_, i) => logits.slice(i * numClasses, (i + 1) * numClasses),
      ),
    };
  }

  /** Top-k predictions (with descriptions as labels) for one preprocessed image. */
  predictions(logits: Float32Array, k = 5): Prediction[] {
    return topK(logits, k, this.bundle.descriptions);
  }

  /**
   * The schedule hitting a target GMACs reduction (delayed by `tau` for delayed methods). For
   * adaptive methods it is the ceiling `r_max`: the schedule of `ceiling` times the target
   * (default 1.5x, at most 90 %), so that `theta` decides within a bounded worst case.
   */
  scheduleFor(
    target: number,
    options: TargetOptions & Pick<MethodOptions, "ceiling"> = {},
    method: MergeMethod | undefined = this.method,
  ): number[] {
    if (!method) return constantSchedule(0, this.bundle.config.depth);
    // A delayed method's even spread is the delayed family; its ramps start after tau as well.
    const even = (options.kind ?? "constant") === "constant";
    const delayed = (method.delayed && even) || options.kind === "delayed";
    const ceiling = options.ceiling ?? DEFAULT_CEILING;
    const goal = method.adaptive ? Math.min(0.9, ceiling * target) : target;
    const kind = delayed ? "delayed" : options.kind;
    const tau = options.tau ?? (method.delayed ? this.suggestedTau(method) : 0);
    // The search tries every merge count (4.5 ms for DeiT-Tiny), and requests that name a
    // reduction repeat a few values: each is searched once.
    const { resolution } = options;
    const key = `${method.name} ${goal} ${kind} ${tau} ${resolution}`;
    let schedule = this.#schedules.get(key);
    if (!schedule) {
      if (this.#schedules.size >= SCHEDULES_KEPT) this.#schedules.clear();
      schedule = scheduleForReduction(this.bundle.config, method, goal, { kind, tau, resolution });
      this.#schedules.set(key, schedule);
    }
    return [...schedule];
  }

  /** `scheduleFor`'s answers, by method, goal, family and delay. */
  #schedules = new Map<string, number[]>();

  /** The state inputs of a segmented graph when the run starts from the image: empty. */
  #emptyState(batch: number, width: number): Record<string, HostTensor> {
    const sums = [...new Set(this.methods.flatMap((m) => Object.keys(m.sums ?? {})))];
    return {
      x_in: { data: new Float32Array(0), dims: [batch, 0, width] },
      size_in: { data: new Float32Array(0), dims: [batch, 0] },
      ...Object.fromEntries(
        sums.map((n) => [`${n}_in`, { data: new Float32Array(0), dims: [batch, 0] }]),
      ),
    };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
