/**
 * Antialiased bicubic resize with PIL's exact semantics (`Image.resize(size, BICUBIC)`, as timm
 * and torchvision use it): separable passes, horizontal first, the filter widened by the scale
 * when downsampling, 22-bit fixed-point coefficients, and rounding to 8 bits after each pass.
 * @module
 */
import type { RgbImage } from "./decode.ts";

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);
const INV_ONE = 1 / ONE;

/** Keys' cubic kernel with a = -0.5, support 2 (PIL's `bicubic_filter`). */
function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Coefficients {
  /** First source index per output index. */
  start: Int32Array;
  /** Taps per output index. */
  count: Int32Array;
  /** Fixed-point weights, `ksize` per output index. */
  weights: Int32Array;
  ksize: number;
}

/** PIL's `precompute_coeffs` followed by `normalize_coeffs_8bpc`. */
function coefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 2 * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      k[x] = bicubic((x + xmin - center + 0.5) / filterScale);
      sum += k[x];
    }
    for (let x = 0; x < xmax; x++) {
      const w = sum !== 0 ? k[x] / sum : k[x];
      weights[xx * ksize + x] = Math.trunc(w < 0 ? -0.5 + w * ONE : 0.5 + w * ONE);
    }
    start[xx] = xmin;
    count[xx] = xmax;
  }
  return { start, count, weights, ksize };
}

/** `acc / ONE` rounded down to 0..255 (a truncation of a negative value clips to 0 all the same). */
function clip8(acc: number): number {
  const v = (acc * INV_ONE) | 0;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** A rectangle of the resized image, in its pixels. */
export interface ResizeWindow {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Output columns `left .. left + cols` of the horizontal pass, for source rows `y0 .. y1`. */
function horizontal(
  src: RgbImage,
  c: Coefficients,
  left: number,
  cols: number,
  y0: number,
  y1: number,
): RgbImage {
  const { width, data } = src;
  const { start, count, weights, ksize } = c;
  const out = new Uint8Array(cols * (y1 - y0) * 3);
  for (let y = y0; y < y1; y++) {
    const row = y * width * 3;
    for (let i = 0; i < cols; i++) {
      const xx = left + i;
      let r = HALF, g = HALF, b = HALF;
      const base = xx * ksize;
      const n = count[xx];
      for (let t = 0, p = row + start[xx] * 3; t < n; t++, p += 3) {
        const w = weights[base + t];
        r += data[p] * w;
        g += data[p + 1] * w;
        b += data[p + 2] * w;
      }
      const q = ((y - y0) * cols + i) * 3;
      out[q] = clip8(r);
      out[q + 1] = clip8(g);
      out[q + 2] = clip8(b);
    }
  }
  return { width: cols, height: y1 - y0, data: out };
}

/** Output rows `top .. top + rows` of the vertical pass; `src` holds source rows from `y0`. */
function vertical(src: RgbImage, c: Coefficients, top: number, rows: number, y0: number): RgbImage {
  const { width, data } = src;
  const out = new Uint8Array(width * rows * 3);
  const stride = width * 3;
  // Row by row, so each tap reads one source row in order (exact: float64 holds these sums).
  const acc = new Float64Array(stride);
  for (let j = 0; j < rows; j++) {
    const base = (top + j) * c.ksize;
    const first = c.start[top + j] - y0;
    acc.fill(HALF);
    for (let t = 0; t < c.count[top + j]; t++) {
      const w = c.weights[base + t];
      const row = (first + t) * stride;
      for (let x = 0; x < stride; x++) acc[x] += data[row + x] * w;
    }
    const o = j * stride;
    for (let x = 0; x < stride; x++) out[o + x] = clip8(acc[x]);
  }
  return { width, height: rows, data: out };
}

/**
 * The `window` of `src` resized to `width x height` exactly as PIL's BICUBIC resize does, computing
 * only the pixels the window needs (a centre crop after a resize costs what the crop holds).
 * @example
 * ```ts
 * const img = { width: 500, height: 375, data: new Uint8Array(500 * 375 * 3) };
 * const crop = resizeBicubicWindow(img, 341, 256, { left: 58, top: 16, width: 224, height: 224 });
 * ```
 */
export function resizeBicubicWindow(
  src: RgbImage,
  width: number,
  height: number,
  window: ResizeWindow,
): RgbImage {
  const { left, top } = window;
  if (
    left < 0 || top < 0 || window.width < 0 || window.height < 0 ||
    left + window.width > width || top + window.height > height
  ) {
    throw new RangeError(`window ${JSON.stringify(window)} is outside ${width}x${height}`);
  }
  // Horizontal first, as PIL: only the source rows the window's output rows read.
  const v = height !== src.height ? coefficients(src.height, height) : undefined;
  const last = top + window.height - 1;
  const [y0, y1] = window.height === 0
    ? [0, 0]
    : v
    ? [v.start[top], v.start[last] + v.count[last]]
    : [top, last + 1];
  const h = width !== src.width
    ? horizontal(src, coefficients(src.width, width), left, window.width, y0, y1)
    : cropRgb(src, left, y0, window.width, y1 - y0);
  return v ? vertical(h, v, top, window.height, y0) : h;
}

/** Resizes an RGB image to `width x height` exactly as PIL's BICUBIC resize does. */
export function resizeBicubic(src: RgbImage, width: number, height: number): RgbImage {
  return resizeBicubicWindow(src, width, height, { left: 0, top: 0, width, height });
}

/**
 * The `w x h` rectangle of `src` at `left, top`.
 * @example
 * ```ts
 * const corner = cropRgb({ width: 4, height: 4, data: new Uint8Array(48) }, 0, 0, 2, 2);
 * ```
 */
export function cropRgb(src: RgbImage, left: number, top: number, w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const from = ((top + y) * src.width + left) * 3;
    data.set(src.data.subarray(from, from + w * 3), y * w * 3);
  }
  return { width: w, height: h, data };
}
