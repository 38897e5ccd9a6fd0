/**
 * PIL's 8-bit bicubic resize in plain TypeScript, pixel by pixel (ImagingResampleHorizontal_8bpc
 * and ImagingResampleVertical_8bpc with 32-bit sums), and timm's normalisation as a plain loop:
 * the references the WebAssembly kernels of lib/image/ are tested against.
 * @module
 */
import type { RgbImage } from "../../lib/image/decode.ts";
import { bicubicCoefficients, type Coefficients } from "../../lib/image/resize.ts";
import type { PreprocessConfig } from "../../lib/image/preprocess.ts";

const HALF = 1 << 21;

/** `acc >> 22` clipped to 0..255, PIL's `clip8`. */
function clip8(acc: number): number {
  const v = acc >> 22;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** One pass along `axis` (0: x, 1: y) of the whole image. */
function pass(src: RgbImage, c: Coefficients, outSize: number, axis: 0 | 1): RgbImage {
  const width = axis === 0 ? outSize : src.width;
  const height = axis === 0 ? src.height : outSize;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = axis === 0 ? x : y;
      for (let ch = 0; ch < 3; ch++) {
        let acc = HALF;
        for (let t = 0; t < c.count[o]; t++) {
          const s = c.start[o] + t;
          const p = axis === 0 ? (y * src.width + s) * 3 : (s * src.width + x) * 3;
          acc = (acc + src.data[p + ch] * c.weights[o * c.ksize + t]) | 0;
        }
        data[(y * width + x) * 3 + ch] = clip8(acc);
      }
    }
  }
  return { width, height, data };
}

/** `src` resized to `width x height`: horizontal pass, then vertical, each skipped at equal size. */
export function referenceResize(src: RgbImage, width: number, height: number): RgbImage {
  const h = width !== src.width ? pass(src, bicubicCoefficients(src.width, width), width, 0) : src;
  return height !== src.height ? pass(h, bicubicCoefficients(src.height, height), height, 1) : h;
}

/** CHW float32 of `(v / 255 - mean) / std`, as timm's `ToTensor` + `Normalize`. */
export function referenceNormalize(img: RgbImage, cfg: PreprocessConfig): Float32Array {
  const n = img.width * img.height;
  const out = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < n; i++) {
      out[c * n + i] = (Math.fround(img.data[i * 3 + c] / 255) - Math.fround(cfg.mean[c])) /
        Math.fround(cfg.std[c]);
    }
  }
  return out;
}
