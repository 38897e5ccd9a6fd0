/**
 * Antialiased bicubic resize with PIL's exact semantics (`Image.resize(size, BICUBIC)`, as timm
 * and torchvision use it): separable passes, horizontal first, the filter widened by the scale
 * when downsampling, 22-bit fixed-point coefficients, and rounding to 8 bits after each pass.
 * @module
 */
import type { RgbImage } from "./decode.ts";
import { withKernels } from "./resample.ts";

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;

/** Keys' cubic kernel with a = -0.5, support 2 (PIL's `bicubic_filter`). */
function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** One pass's filter: for each output index, the first source index, the taps and their weights. */
export interface Coefficients {
  /** First source index per output index. */
  start: Int32Array;
  /** Taps per output index. */
  count: Int32Array;
  /** Fixed-point weights, `ksize` per output index. */
  weights: Int32Array;
  ksize: number;
}

/**
 * PIL's `precompute_coeffs` followed by `normalize_coeffs_8bpc`: the filter resizing `inSize`
 * pixels to `outSize` along one axis.
 * @example
 * ```ts
 * const { ksize } = bicubicCoefficients(375, 256); // 7 taps at most per output pixel
 * ```
 */
export function bicubicCoefficients(inSize: number, outSize: number): Coefficients {
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

/** A rectangle of the resized image, in its pixels. */
export interface ResizeWindow {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** One tap of weight 1 per index: the pass PIL skips where a side keeps its size. */
function identity(size: number): Coefficients {
  return {
    start: Int32Array.from({ length: size }, (_, i) => i),
    count: new Int32Array(size).fill(1),
    weights: new Int32Array(size).fill(ONE),
    ksize: 1,
  };
}

/**
 * Both passes over the window, in the WebAssembly kernels: the horizontal one over the source
 * rows `y0 .. y1` the window reads, for the window's columns, then the vertical one.
 */
function resample(
  src: RgbImage,
  h: Coefficients,
  v: Coefficients,
  window: ResizeWindow,
  y0: number,
  y1: number,
): RgbImage {
  const { left, top, width: cols, height: rows } = window;
  const srcStride = src.width * 3;
  const stride = cols * 3;
  const sources = y1 - y0;
  const sizes = [
    sources * srcStride,
    cols * 4,
    cols * 4,
    cols * h.ksize * 4,
    sources * stride,
    rows * 4,
    rows * 4,
    rows * v.ksize * 4,
    rows * stride,
  ];
  return withKernels(sizes, (k, memory, at) => {
    const [source, offsets, counts, weights, mid, firsts, vCounts, vWeights, out] = at;
    new Uint8Array(memory, source, sizes[0]).set(
      src.data.subarray(y0 * srcStride, y1 * srcStride),
    );
    const hOffsets = new Int32Array(memory, offsets, cols);
    for (let i = 0; i < cols; i++) hOffsets[i] = h.start[left + i] * 3;
    new Int32Array(memory, counts, cols).set(h.count.subarray(left, left + cols));
    new Int32Array(memory, weights, cols * h.ksize).set(
      h.weights.subarray(left * h.ksize, (left + cols) * h.ksize),
    );
    const vFirsts = new Int32Array(memory, firsts, rows);
    for (let j = 0; j < rows; j++) vFirsts[j] = (v.start[top + j] - y0) * stride;
    new Int32Array(memory, vCounts, rows).set(v.count.subarray(top, top + rows));
    new Int32Array(memory, vWeights, rows * v.ksize).set(
      v.weights.subarray(top * v.ksize, (top + rows) * v.ksize),
    );
    k.horizontal(source, srcStride, sources, offsets, counts, weights, h.ksize, cols, mid);
    k.vertical(mid, stride, rows, firsts, vCounts, vWeights, v.ksize, out);
    return { width: cols, height: rows, data: new Uint8Array(memory, out, rows * stride).slice() };
  });
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
  if (window.width === 0 || window.height === 0) {
    return { width: window.width, height: window.height, data: new Uint8Array(0) };
  }
  const h = width !== src.width ? bicubicCoefficients(src.width, width) : identity(width);
  const v = height !== src.height ? bicubicCoefficients(src.height, height) : identity(height);
  // Horizontal first, as PIL: only the source rows the window's output rows read.
  const last = top + window.height - 1;
  return resample(src, h, v, window, v.start[top], v.start[last] + v.count[last]);
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
