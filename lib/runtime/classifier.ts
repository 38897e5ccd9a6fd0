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
import { gmacs } from "../merge/cost.ts";
import type { MergeMethod, MethodOptions } from "../merge/step.ts";
import {
  clampSchedule,
  constantSchedule,
  scheduleForReduction,
  type TargetOptions,
} from "../merge/schedule.ts";
import { loadModelBundle, type ModelBundle } from "../checkpoint/bundle.ts";
import { cachedGraph } from "../vit/graph_cache.ts";

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
  /** Merge method built into the graph (none: the plain ViT). */
  method?: MergeMethod;
  /** Also track and output where each patch ends up (`ImageOutput.sourceMap`). */
  sources?: boolean;
}

/** Softmax probabilities of the `k` highest logits. */
export function topK(logits: Float32Array, k: number, labels: string[]): Prediction[] {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]).slice(0, k);
  return order.map((i) => ({ index: i, label: labels[i], score: Math.exp(logits[i] - max) / sum }));
}

/** A loaded model with its session. */
export class Classifier {
  private constructor(
    readonly bundle: ModelBundle,
    readonly session: Session,
    readonly method: MergeMethod | undefined,
    /** Values of the method's extra inputs (prior, alpha, ...). */
    readonly methodFeeds: Record<string, HostTensor>,
    /** Blocks without merging the method's data suggests (SAD-TM-DM: from the prior). */
    readonly suggestedTau: number | undefined,
  ) {}

  /** Loads the model, builds its graph (with `method` inside) and starts a session. */
  static async load(options: ClassifierOptions): Promise<Classifier> {
    return Classifier.fromBundle(await loadModelBundle(options.model), options);
  }

  /** A classifier for an already loaded bundle (several methods share one bundle). */
  static async fromBundle(
    bundle: ModelBundle,
    options: Omit<ClassifierOptions, "model">,
  ): Promise<Classifier> {
    const prepared = await options.method?.prepare?.(bundle.config, options);
    const graph = await cachedGraph(bundle, options.method, { sources: options.sources });
    const session = await createSession(graph, options);
    return new Classifier(
      bundle,
      session,
      options.method,
      prepared?.feeds ?? {},
      prepared?.suggestedTau,
    );
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
  ): Promise<ImageOutput[]> {
    const { depth, imgSize, numClasses } = this.bundle.config;
    const per = 3 * imgSize * imgSize;
    const batch = new Float32Array(inputs.length * per);
    inputs.forEach((x, i) => batch.set(x, i * per));
    // The graph trusts r: each block gets at most what its tokens allow.
    const clamped = clampSchedule(this.bundle.config, this.method, r ?? []);
    const schedule = BigInt64Array.from(clamped, BigInt);
    const out = await this.session.run({
      pixel_values: { data: batch, dims: [inputs.length, 3, imgSize, imgSize] },
      r: { data: schedule, dims: [depth] },
      ...this.methodFeeds,
      ...feeds,
    });
    const tokens = Array.from(out.tokens.data as BigInt64Array, Number);
    const cost = gmacs(this.bundle.config, tokens);
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

  /** Top-k predictions (with descriptions as labels) for one preprocessed image. */
  predictions(logits: Float32Array, k = 5): Prediction[] {
    return topK(logits, k, this.bundle.descriptions);
  }

  /**
   * The schedule hitting a target GMACs reduction (delayed by `tau` for delayed methods). For
   * adaptive methods it is the ceiling `r_max`: the schedule of 1.5x the target (at most 90 %),
   * so that `theta` decides within a bounded worst case.
   */
  scheduleFor(target: number, options: TargetOptions = {}): number[] {
    if (!this.method) return constantSchedule(0, this.bundle.config.depth);
    const delayed = this.method.delayed || options.kind === "delayed";
    const goal = this.method.adaptive ? Math.min(0.9, 1.5 * target) : target;
    return scheduleForReduction(this.bundle.config, this.method, goal, {
      kind: delayed ? "delayed" : options.kind,
      tau: options.tau ?? (this.method.delayed ? this.suggestedTau : 0),
    });
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
