/**
 * A position embedding resampled to a smaller patch grid, as timm's `resample_abs_pos_embed`
 * does it for a ViT run at another resolution: the prefix rows kept, the patch grid resized
 * bicubically (PyTorch's `interpolate`, `align_corners=False`, a = -0.75, edges clamped).
 *
 * @example
 * ```ts
 * const table = resamplePosEmbed(posEmbed, { prefix: 1, grid: 14, width: 192 }, 10);
 * table.length; // (1 + 10 * 10) * 192
 * ```
 * @module
 */

/** The layout of a position embedding: prefix rows, then a `grid x grid` patch grid, `width` wide. */
export interface PosEmbedShape {
  prefix: number;
  grid: number;
  width: number;
}

/** PyTorch's cubic convolution kernel (a = -0.75). */
function cubic(x: number): number {
  const a = -0.75, t = Math.abs(x);
  if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

/** The 4 source indices (clamped) and weights of each of `m` outputs sampled from `n`. */
function taps(n: number, m: number): { index: number[]; weight: number[] }[] {
  return Array.from({ length: m }, (_, o) => {
    const source = (o + 0.5) * (n / m) - 0.5;
    const floor = Math.floor(source);
    const index: number[] = [], weight: number[] = [];
    for (let k = -1; k <= 2; k++) {
      index.push(Math.min(n - 1, Math.max(0, floor + k)));
      weight.push(cubic(source - (floor + k)));
    }
    return { index, weight };
  });
}

/** `table` (`[prefix + grid^2, width]`, row-major) with its patch grid resized to `side^2`. */
export function resamplePosEmbed(
  table: Float32Array,
  shape: PosEmbedShape,
  side: number,
): Float32Array {
  const { prefix, grid: n, width: d } = shape;
  const patches = table.subarray(prefix * d);
  const along = taps(n, side);
  // Columns first (n rows x side columns), then rows.
  const half = new Float32Array(n * side * d);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < side; c++) {
      const { index, weight } = along[c];
      for (let k = 0; k < 4; k++) {
        const from = (r * n + index[k]) * d, to = (r * side + c) * d;
        for (let j = 0; j < d; j++) half[to + j] += weight[k] * patches[from + j];
      }
    }
  }
  const out = new Float32Array((prefix + side * side) * d);
  out.set(table.subarray(0, prefix * d));
  for (let r = 0; r < side; r++) {
    const { index, weight } = along[r];
    for (let c = 0; c < side; c++) {
      const to = (prefix + r * side + c) * d;
      for (let k = 0; k < 4; k++) {
        const from = (index[k] * side + c) * d;
        for (let j = 0; j < d; j++) out[to + j] += weight[k] * half[from + j];
      }
    }
  }
  return out;
}
