/**
 * timm's eval transform: resize the short side to `floor(size / crop_pct)` (antialiased bicubic),
 * centre crop `size x size`, scale to [0, 1], normalise by mean/std, lay out as CHW float32.
 * @module
 */
import { decodeImage, DEFAULT_MAX_PIXELS, ImageError, type RgbImage } from "./decode.ts";
import { withKernels } from "./resample.ts";
import { resizeBicubicWindow } from "./resize.ts";

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

/**
 * Largest resized image (8 megapixels, 24 MB of RGB) before the centre crop. The decode limits
 * (`DEFAULT_MAX_PIXELS`, `MAX_ASPECT_RATIO`) already bound it for a decoded image; this guards
 * the resize itself, whatever image reaches it: a 256-pixel short side at 20:1 is 1.3 MP, and
 * 8 MP leaves room for 512-pixel models at that ratio.
 */
export const MAX_RESIZE_PIXELS = 8_000_000;

/** The short-side resize of `img` for `cfg`; throws `ImageError` beyond `MAX_RESIZE_PIXELS`. */
export function resizeTarget(img: RgbImage, cfg: PreprocessConfig): [number, number] {
  const [w, h] = resizedSize(img.width, img.height, Math.floor(cfg.inputSize / cfg.cropPct));
  if (w * h > MAX_RESIZE_PIXELS) {
    throw new ImageError(
      "resize_too_large",
      `${img.width}x${img.height} image resizes to ${w}x${h}, beyond the ${MAX_RESIZE_PIXELS}-pixel ` +
        "resize limit",
    );
  }
  return [w, h];
}

/** Resized and centre-cropped RGB image of `cfg.inputSize` squared (only the crop is resized). */
export function resizeAndCrop(img: RgbImage, cfg: PreprocessConfig): RgbImage {
  const size = cfg.inputSize;
  const [w, h] = resizeTarget(img, cfg);
  const top = roundHalfEven((h - size) / 2);
  const left = roundHalfEven((w - size) / 2);
  return resizeBicubicWindow(img, w, h, { left, top, width: size, height: size });
}

/** Each channel's 256 byte values normalised, as `normalize` writes them. */
function normalizeTable(cfg: PreprocessConfig): Float32Array {
  const table = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const mean = Math.fround(cfg.mean[c]);
    const std = Math.fround(cfg.std[c]);
    for (let v = 0; v < 256; v++) table[c * 256 + v] = (Math.fround(v / 255) - mean) / std;
  }
  return table;
}

/** Normalised CHW float32 tensor data from a `size x size` RGB image. */
export function normalize(img: RgbImage, cfg: PreprocessConfig): Float32Array<ArrayBuffer> {
  const n = img.width * img.height;
  const sizes = [img.data.length, 3 * 256 * 4, 3 * n * 4];
  return withKernels(sizes, (k, memory, [src, table, out]) => {
    new Uint8Array(memory, src, img.data.length).set(img.data);
    new Float32Array(memory, table, 3 * 256).set(normalizeTable(cfg));
    k.normalize(src, n, table, out);
    return new Float32Array(memory, out, 3 * n).slice();
  });
}

/** Decodes image bytes and returns the model input for one image (`[3, size, size]`). */
export async function imageToTensor(
  bytes: Uint8Array,
  cfg: PreprocessConfig,
  maxPixels = DEFAULT_MAX_PIXELS,
): Promise<Float32Array<ArrayBuffer>> {
  return normalize(resizeAndCrop(await decodeImage(bytes, maxPixels), cfg), cfg);
}

/** A 48x32 gradient JPEG (quality 60) that `warmUp` decodes. */
const WARM_UP_JPEG = Uint8Array.from(
  atob(
    "/9j/4AAQSkZJRgABAgAAAQABAAD/wAARCAAgADADAREAAhEBAxEB/9sAQwANCQoLCggNCwoLDg4NDxMgFRMSEhMnHB4XIC" +
      "4pMTAuKS0sMzpKPjM2RjcsLUBXQUZMTlJTUjI+WmFaUGBKUVJP/9sAQwEODg4TERMmFRUmTzUtNU9PT09PT09PT09PT09P" +
      "T09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09P/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8" +
      "QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0" +
      "NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7" +
      "i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcI" +
      "CQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGR" +
      "omJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmq" +
      "srO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDiEg9q9xzMIVCwkH" +
      "tWbmdcKhOkHtWbmdkKhYSD2qHM64VCdIPas3M64VCdLf2rNzOyFQz0g9q6XM/OIVCdIPas3M7IVCdLf2rNzOuFQsJB7Vm5" +
      "nZCoTpb+1ZuZ1wqE6W/tWbmdcKhnpB7V0uZ+cwqE6W/tWbmdcKhYS39qzczshUJ0g9qzczrhUJ0t/aoczshULCQe1ZuZ1w" +
      "qGckHtXQ5n5xCoTpb+1ZuZ2QqFhIPaoczrhUJ0g9qzczshULCQe1ZuZ1wqE6Qe1ZuZ2QqH/9k=",
  ),
  (c) => c.charCodeAt(0),
);

/**
 * Decodes, resizes and normalises a built-in JPEG a few times, so that a fresh thread's first
 * real image does not pay for instantiating the decoder and the resize kernels and compiling the
 * JavaScript around them (the first of a fresh thread took 36 ms against 3.5 ms once warm, on a
 * 500x375 ImageNet JPEG, when the resize was JavaScript).
 * @example
 * ```ts
 * await warmUp(bundle.preprocess);
 * ```
 */
export async function warmUp(cfg: PreprocessConfig, rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await imageToTensor(WARM_UP_JPEG, cfg);
}
