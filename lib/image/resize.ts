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

function clip8(acc: number): number {
  const v = Math.floor(acc / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

function horizontal(src: RgbImage, outWidth: number): RgbImage {
  const { width, height, data } = src;
  const c = coefficients(width, outWidth);
  const out = new Uint8Array(outWidth * height * 3);
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    for (let xx = 0; xx < outWidth; xx++) {
      let r = HALF, g = HALF, b = HALF;
      const base = xx * c.ksize;
      for (let t = 0; t < c.count[xx]; t++) {
        const w = c.weights[base + t];
        const p = row + (c.start[xx] + t) * 3;
        r += data[p] * w;
        g += data[p + 1] * w;
        b += data[p + 2] * w;
      }
      const q = (y * outWidth + xx) * 3;
      out[q] = clip8(r);
      out[q + 1] = clip8(g);
      out[q + 2] = clip8(b);
    }
  }
  return { width: outWidth, height, data: out };
}

function vertical(src: RgbImage, outHeight: number): RgbImage {
  const { width, height, data } = src;
  const c = coefficients(height, outHeight);
  const out = new Uint8Array(width * outHeight * 3);
  const stride = width * 3;
  for (let yy = 0; yy < outHeight; yy++) {
    const base = yy * c.ksize;
    for (let x = 0; x < stride; x++) {
      let acc = HALF;
      for (let t = 0; t < c.count[yy]; t++) {
        acc += data[(c.start[yy] + t) * stride + x] * c.weights[base + t];
      }
      out[yy * stride + x] = clip8(acc);
    }
  }
  return { width, height: outHeight, data: out };
}

/** Resizes an RGB image to `width x height` exactly as PIL's BICUBIC resize does. */
export function resizeBicubic(src: RgbImage, width: number, height: number): RgbImage {
  const h = width !== src.width ? horizontal(src, width) : src;
  return height !== src.height ? vertical(h, height) : h;
}
