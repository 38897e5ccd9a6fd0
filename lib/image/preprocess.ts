/**
 * timm's eval transform: resize the short side to `floor(size / crop_pct)` (antialiased bicubic),
 * centre crop `size x size`, scale to [0, 1], normalise by mean/std, lay out as CHW float32.
 * @module
 */
import { decodeImage, DEFAULT_MAX_PIXELS, type RgbImage } from "./decode.ts";
import { resizeBicubic } from "./resize.ts";

/** How images are prepared for a model (timm `pretrained_cfg`). */
export interface PreprocessConfig {
  inputSize: number;
  cropPct: number;
  mean: [number, number, number];
  std: [number, number, number];
}

/** Python's `round` (half to even), as torchvision's centre crop uses it. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Output size of torchvision's `Resize(short)`: the short side to `short`, aspect kept. */
export function resizedSize(width: number, height: number, short: number): [number, number] {
  return width <= height
    ? [short, Math.floor((short * height) / width)]
    : [Math.floor((short * width) / height), short];
}

/** Resized and centre-cropped RGB image of `cfg.inputSize` squared. */
export function resizeAndCrop(img: RgbImage, cfg: PreprocessConfig): RgbImage {
  const size = cfg.inputSize;
  const [w, h] = resizedSize(img.width, img.height, Math.floor(size / cfg.cropPct));
  const resized = resizeBicubic(img, w, h);
  const top = roundHalfEven((h - size) / 2);
  const left = roundHalfEven((w - size) / 2);
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    const from = ((top + y) * w + left) * 3;
    data.set(resized.data.subarray(from, from + size * 3), y * size * 3);
  }
  return { width: size, height: size, data };
}

/** Normalised CHW float32 tensor data from a `size x size` RGB image. */
export function normalize(img: RgbImage, cfg: PreprocessConfig): Float32Array {
  const n = img.width * img.height;
  const out = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) {
    const mean = Math.fround(cfg.mean[c]);
    const std = Math.fround(cfg.std[c]);
    for (let i = 0; i < n; i++) {
      out[c * n + i] = (Math.fround(img.data[i * 3 + c] / 255) - mean) / std;
    }
  }
  return out;
}

/** Decodes image bytes and returns the model input for one image (`[3, size, size]`). */
export async function imageToTensor(
  bytes: Uint8Array,
  cfg: PreprocessConfig,
  maxPixels = DEFAULT_MAX_PIXELS,
): Promise<Float32Array> {
  return normalize(resizeAndCrop(await decodeImage(bytes, maxPixels), cfg), cfg);
}
