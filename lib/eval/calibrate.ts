/**
 * Calibrating an adaptive method: the threshold `theta` that meets a target mean GMACs
 * reduction on a calibration set (adaptive methods run at batch 1, so each image pays its own
 * cost). Higher `theta` means fewer merges and more GMACs.
 * @module
 */
import type { Classifier } from "../runtime/classifier.ts";
import type { OnProgress } from "../progress.ts";

/** Per-image GMACs of `inputs` at `theta`, with `rMax` as the per-block ceiling. */
export async function costAt(
  c: Classifier,
  inputs: Float32Array[],
  rMax: number[],
  theta: number,
): Promise<number[]> {
  const feeds = { theta: { data: new Float32Array([theta]), dims: [1] } };
  const out: number[] = [];
  for (const x of inputs) out.push((await c.run([x], rMax, feeds))[0].gmacs);
  return out;
}

/** What calibration found: `theta` and the points it measured (theta, mean GMACs). */
export interface Calibration {
  theta: number;
  meanGmacs: number;
  curve: [number, number][];
}

/** The search interval, its steps, and progress reports. */
export interface CalibrationOptions {
  lo?: number;
  hi?: number;
  iterations?: number;
  onProgress?: OnProgress;
}

/**
 * Bisects `theta` in `[lo, hi]` so that the mean reduction against `fullGmacs` meets `target`
 * (0..1). Similarity scores lie in [-1, 1], so `hi = 1.01` merges nothing.
 */
export async function calibrateTheta(
  c: Classifier,
  inputs: Float32Array[],
  rMax: number[],
  target: number,
  fullGmacs: number,
  { lo = -1, hi = 1.01, iterations = 12, onProgress }: CalibrationOptions = {},
): Promise<Calibration> {
  const curve: [number, number][] = [];
  const mean = async (theta: number) => {
    const costs = await costAt(c, inputs, rMax, theta);
    const m = costs.reduce((a, b) => a + b, 0) / costs.length;
    curve.push([theta, m]);
    onProgress?.(`calibrate@${target}`, curve.length, iterations + 1);
    return m;
  };
  let best = { theta: hi, meanGmacs: await mean(hi) };
  for (let i = 0; i < iterations; i++) {
    const mid = (lo + hi) / 2;
    const m = await mean(mid);
    if (Math.abs(1 - m / fullGmacs - target) < Math.abs(1 - best.meanGmacs / fullGmacs - target)) {
      best = { theta: mid, meanGmacs: m };
    }
    if (1 - m / fullGmacs > target) lo = mid;
    else hi = mid;
  }
  return { ...best, curve: curve.sort((a, b) => a[0] - b[0]) };
}
