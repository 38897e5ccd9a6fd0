/**
 * The SAD-TM saliency outlier prior. Per image: saliency `s = max_c |dL/dx|`, cut into patches;
 * Pearson correlation `r_ij` between patch vectors; outlierness `o_i = mean_{j != i} r_ij`
 * (low = deviates from the global gradient pattern = safe to merge). The prior is the mean of
 * `o` over calibration images. Also: the class-attention MSE between adjacent blocks and the
 * `tau` it suggests for delayed merging.
 * @module
 */
import { type PatchPrior, PriorError } from "../merge/step.ts";

/** A saliency prior as stored in `priors/<model>.json` and in Deno KV. */
export interface SaliencyPrior extends PatchPrior {
  patchSize: number;
  vector: number[];
  images: number;
  /** SHA-256 of the calibration file list (one name per line). */
  imageListHash: string;
  /** `mse[l]` = mean squared difference of class attention between blocks `l` and `l + 1`. */
  classAttentionMse: number[];
  /** The same, divided by the rows' mean square (scale-free; `tau` is read off this one). */
  classAttentionRelativeMse: number[];
  /** `ground_truth` labels or the model's own `top1`. */
  labels: "ground_truth" | "top1";
}

/** `max over channels |g|` of a CHW gradient, as an `S x S` map. */
export function saliencyMap(grad: Float32Array, size: number): Float32Array {
  const n = size * size;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = Math.max(Math.abs(grad[i]), Math.abs(grad[n + i]), Math.abs(grad[2 * n + i]));
  }
  return out;
}

/**
 * Outlierness of every patch of an `S x S` map cut into `p x p` patches. Patches with zero
 * variance have no defined correlation; they count as uncorrelated (r = 0).
 */
export function patchOutlierness(map: Float32Array, size: number, p: number): Float64Array {
  const g = size / p, count = g * g, len = p * p;
  const z = Array.from({ length: count }, (_, k) => {
    const py = Math.floor(k / g), px = k % g;
    const v = new Float64Array(len);
    for (let y = 0; y < p; y++) {
      for (let x = 0; x < p; x++) v[y * p + x] = map[(py * p + y) * size + px * p + x];
    }
    const mean = v.reduce((a, b) => a + b, 0) / len;
    const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0));
    return v.map((t) => (sd > 0 ? (t - mean) / sd : 0));
  });
  const o = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    for (let j = i + 1; j < count; j++) {
      let r = 0;
      for (let t = 0; t < len; t++) r += z[i][t] * z[j][t];
      o[i] += r;
      o[j] += r;
    }
  }
  return o.map((v) => v / (count - 1));
}

/** Mean squared difference of class attention `[L][M]` between adjacent blocks. */
export function classAttentionMse(rows: Float32Array[]): number[] {
  return rows.slice(1).map((next, l) => {
    const prev = rows[l];
    let s = 0;
    for (let j = 0; j < next.length; j++) s += (next[j] - prev[j]) ** 2;
    return s / next.length;
  });
}

/**
 * Scale-free variant: the adjacent-block MSE divided by the mean square of the two rows, so
 * blocks with peakier (larger) class attention do not dominate the curve.
 */
export function classAttentionRelativeMse(rows: Float32Array[]): number[] {
  return rows.slice(1).map((next, l) => {
    const prev = rows[l];
    let diff = 0, energy = 0;
    for (let j = 0; j < next.length; j++) {
      diff += (next[j] - prev[j]) ** 2;
      energy += ((next[j] + prev[j]) / 2) ** 2;
    }
    return energy > 0 ? diff / energy : 0;
  });
}

/**
 * `tau`: the end of the initial unstable stretch, i.e. the first `l` whose adjacent-block
 * difference `curve[l]` (blocks `l` and `l+1`) is at most `fraction` of the curve's maximum;
 * blocks before it stay unmerged. (ALGORITHMS.md asks for the point after which the curve
 * *stays* low; on DeiT-Tiny the deep blocks change a lot again, so that never happens: see
 * docs/RESULTS.md.)
 */
export function suggestTau(curve: number[], fraction = 0.25): number {
  const limit = fraction * Math.max(...curve);
  const l = curve.findIndex((v) => v <= limit);
  return l < 0 ? curve.length : l;
}

/** Validates a parsed prior (from a file or KV). */
export function checkPrior(value: unknown, source: string): SaliencyPrior {
  const p = value as SaliencyPrior;
  const ok = p && typeof p.model === "string" && Array.isArray(p.grid) && p.grid.length === 2 &&
    Array.isArray(p.vector) && p.vector.length === p.grid[0] * p.grid[1] &&
    p.vector.every(Number.isFinite) && Number.isInteger(p.suggestedTau);
  if (!ok) throw new PriorError(`${source}: not a valid saliency prior`);
  for (const [method, s] of Object.entries(p.settings ?? {})) {
    const within = (v: unknown, lo: number, hi: number) =>
      v === undefined || (typeof v === "number" && v >= lo && v <= hi);
    const valid = s && typeof s === "object" && within(s.alpha, 0, 1) &&
      (s.priorSign === undefined || s.priorSign === 1 || s.priorSign === -1) &&
      (s.tau === undefined || (Number.isInteger(s.tau) && s.tau >= 0)) &&
      within(s.gamma, 0, 0.99) && within(s.salienceWeight, 0, 1);
    if (!valid) {
      throw new PriorError(
        `${source}: settings of ${method}: alpha must be in [0, 1], priorSign 1 or -1, tau an ` +
          `integer >= 0, gamma in [0, 0.99], salienceWeight in [0, 1]`,
      );
    }
  }
  return p;
}
