/**
 * Computing a saliency prior over a calibration set: forward + backward per image in ORT,
 * per-image outlierness and class-attention MSE in TypeScript, averaged.
 * @module
 */
import type { SessionOptions } from "../backend/session.ts";
import { createSession } from "../backend/session.ts";
import { sha256Hex } from "../hash.ts";
import type { OnProgress } from "../progress.ts";
import { imageToTensor } from "../image/preprocess.ts";
import type { ModelBundle } from "../checkpoint/bundle.ts";
import { join } from "node:path";
import { buildSaliencyGraph } from "./graph.ts";
import {
  classAttentionMse,
  classAttentionRelativeMse,
  patchOutlierness,
  saliencyMap,
  type SaliencyPrior,
  suggestTau,
} from "./prior.ts";

/** Calibration images: paths and labels (-1: use the model's own top-1). */
export interface CalibrationSet {
  dir: string;
  files: string[];
  labels: number[];
}

/** Computes the prior of `bundle` over `set`, `batch` images per run. */
export async function computePrior(
  bundle: ModelBundle,
  set: CalibrationSet,
  options: SessionOptions & { batch?: number; onProgress?: OnProgress } = {},
): Promise<SaliencyPrior> {
  const { config } = bundle;
  // One WASM thread: onnxruntime-web's thread pool deadlocks intermittently on the backward
  // graph under Deno (seen with 2 threads at batch 1 and 8); single-threaded runs never did.
  const session = await createSession(buildSaliencyGraph(bundle), {
    backend: "wasm",
    threads: 1,
    ...options,
  });
  const size = config.imgSize, p = config.patchSize, side = size / p;
  const per = 3 * size * size, batch = options.batch ?? 8;
  const sum = new Float64Array(side * side);
  const mseSum = new Float64Array(config.depth - 1);
  const relSum = new Float64Array(config.depth - 1);
  let done = 0;
  try {
    for (let i = 0; i < set.files.length; i += batch) {
      const files = set.files.slice(i, i + batch);
      const pixels = new Float32Array(files.length * per);
      for (const [k, f] of files.entries()) {
        pixels.set(
          await imageToTensor(await Deno.readFile(join(set.dir, f)), bundle.preprocess),
          k * per,
        );
      }
      const out = await session.run({
        pixel_values: { data: pixels, dims: [files.length, 3, size, size] },
        r: { data: new BigInt64Array(config.depth), dims: [config.depth] },
        labels: {
          data: BigInt64Array.from(set.labels.slice(i, i + batch), BigInt),
          dims: [files.length],
        },
      });
      const grad = out.grad.data as Float32Array;
      const attention = out.class_attention.data as Float32Array;
      const m = out.class_attention.dims[2];
      for (let k = 0; k < files.length; k++) {
        const o = patchOutlierness(
          saliencyMap(grad.subarray(k * per, (k + 1) * per), size),
          size,
          p,
        );
        o.forEach((v, j) => sum[j] += v);
        const rows = Array.from(
          { length: config.depth },
          (_, l) => attention.subarray((k * config.depth + l) * m, (k * config.depth + l + 1) * m),
        );
        classAttentionMse(rows).forEach((v, l) => mseSum[l] += v);
        classAttentionRelativeMse(rows).forEach((v, l) => relSum[l] += v);
        options.onProgress?.("priors", ++done, set.files.length);
      }
    }
  } finally {
    await session.release();
  }
  const n = set.files.length;
  const mse = Array.from(mseSum, (v) => v / n);
  const relative = Array.from(relSum, (v) => v / n);
  return {
    model: config.name,
    grid: [side, side],
    patchSize: p,
    vector: Array.from(sum, (v) => v / n),
    images: n,
    imageListHash: sha256Hex(set.files.join("\n")),
    classAttentionMse: mse,
    classAttentionRelativeMse: relative,
    suggestedTau: suggestTau(relative),
    labels: set.labels.every((l) => l >= 0) ? "ground_truth" : "top1",
  };
}
