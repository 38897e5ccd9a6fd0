/**
 * The one-line entry, as users of transformers.js expect: `pipeline()` loads a model with a
 * merge method built in and returns a function from image bytes to a classification.
 *
 * @example
 * ```ts
 * import { pipeline } from "./lib/pipeline.ts";
 * const classify = await pipeline({ model: "../shared/models/deit_tiny_patch16_224", method: "tome" });
 * const { top, gmacs, tokens } = await classify(await Deno.readFile("cat.jpg"), { topK: 3 });
 * ```
 * @module
 */
import type { SessionOptions } from "./backend/session.ts";
import { loadModelBundle } from "./checkpoint/bundle.ts";
import { priorFor } from "./kv/priors.ts";
import { methodByName } from "./merge/methods.ts";
import { DEFAULT_REDUCTION, unmergedGmacs } from "./merge/schedule.ts";
import type { MergeMethod, MethodOptions } from "./merge/step.ts";
import { REDUCTION, TOP_K } from "./options/request.ts";
import { checkNumber } from "./options/spec.ts";
import { Classifier, type Prediction } from "./runtime/classifier.ts";

/** What `pipeline` loads. */
export interface PipelineOptions extends SessionOptions, MethodOptions {
  /** Model directory in timm's hub layout (`config.json` + `model.safetensors`). */
  model: string;
  /** Merge method, by name (`"tome"`) or as a method object; default `none` (the plain ViT). */
  method?: string | MergeMethod;
  /** Target GMACs reduction of the method (default 0.33); per call too. */
  reduction?: number;
  /**
   * Pixels the image is resized to before the patches (a merge method's graph only; default the
   * model's own); per call too. The reduction counts what the resolution saves.
   */
  resolution?: number;
  /** Classes per answer (default 5); per call too. */
  topK?: number;
}

/** Options of one call. */
export interface CallOptions {
  topK?: number;
  reduction?: number;
  resolution?: number;
}

/** One image's classification. */
export interface Classification {
  /** The `topK` classes, best first, with softmax scores. */
  top: Prediction[];
  method: string;
  /** Merges per block. */
  schedule: number[];
  /** Pixels the image was resized to before the patches. */
  resolution: number;
  /** Tokens entering each block, then leaving the last. */
  tokens: number[];
  gmacs: number;
  /** GMACs saved against the unmerged model (0..1). */
  reduction: number;
  timings: { decodeMs: number; inferMs: number; totalMs: number };
}

/** The function `pipeline` returns; its classifier is reachable for lower-level use. */
export type ClassifyFunction =
  & ((image: Uint8Array, options?: CallOptions) => Promise<Classification>)
  & { readonly classifier: Classifier; release(): Promise<void> };

/**
 * Loads `options.model` with `options.method` built into its graph and returns `classify`. A
 * method with inputs of its own (SAD-TM, AdaMerge) without a given `prior` reads the model's
 * prior from `priors/`.
 *
 * @example
 * ```ts
 * const classify = await pipeline({ model: dir, method: "tome", reduction: 0.45 });
 * const result = await classify(bytes, { topK: 1 });
 * console.log(result.top[0].label, result.gmacs, result.tokens);
 * await classify.release();
 * ```
 */
export async function pipeline(options: PipelineOptions): Promise<ClassifyFunction> {
  const bundle = await loadModelBundle(options.model);
  const method = typeof options.method === "string" ? methodByName(options.method) : options.method;
  const classifier = await Classifier.fromBundle(bundle, {
    ...options,
    method,
    prior: options.prior ?? (method?.inputs ? await priorFor(bundle.config) : undefined),
  });
  // The classifier keeps what it needs; holding the bundle here would keep every weight too.
  const { config } = bundle;
  const full = unmergedGmacs(config);
  const classify = async (image: Uint8Array, call: CallOptions = {}): Promise<Classification> => {
    const topK = checkNumber(TOP_K, call.topK ?? options.topK ?? TOP_K.default!, "topK");
    const target = checkNumber(
      REDUCTION,
      call.reduction ?? options.reduction ?? DEFAULT_REDUCTION,
      "reduction",
    );
    const resolution = call.resolution ?? options.resolution ?? config.imgSize;
    // `scheduleFor` keeps the schedules it solved, and hands out copies.
    const schedule = classifier.scheduleFor(method ? target : 0, { resolution });
    const t0 = performance.now();
    const input = await classifier.prepare(image);
    const t1 = performance.now();
    const [out] = await classifier.run([input], schedule, {}, method, resolution);
    const t2 = performance.now();
    return {
      top: classifier.predictions(out.logits, topK),
      method: method?.name ?? "none",
      schedule,
      resolution,
      tokens: out.tokens,
      gmacs: out.gmacs,
      reduction: 1 - out.gmacs / full,
      timings: { decodeMs: t1 - t0, inferMs: t2 - t1, totalMs: t2 - t0 },
    };
  };
  return Object.assign(classify, { classifier, release: () => classifier.release() });
}
