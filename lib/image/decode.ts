/**
 * Image decoding with imagescript's WASM decoders, guarded: the format and size are read from
 * the header first, so a decompression bomb is refused before any pixel is decoded.
 * (imagescript's main entry loads a native FFI codec at import; its decoders do not need it,
 * so edgemerge imports them directly and runs where FFI is not allowed.)
 * @module
 */
import { UserError } from "../errors.ts";
// @ts-types="./imagescript_jpeg.d.ts"
import jpegCodec from "imagescript/wasm/node/jpeg.js";
// @ts-types="./imagescript_png.d.ts"
import pngCodec from "imagescript/wasm/node/png.js";

/** Why an image was refused; stable codes for API errors. */
export type ImageErrorCode =
  | "empty"
  | "unsupported_format"
  | "corrupt"
  | "too_large"
  | "bad_aspect"
  | "resize_too_large";

/** The input is not an image edgemerge can use; `code` says why, the message names the problem. */
export class ImageError extends UserError {
  override name = "ImageError";
  constructor(readonly code: ImageErrorCode, message: string) {
    super(message);
  }
}

/** Formats edgemerge decodes. */
export type ImageFormat = "jpeg" | "png";

/** Header facts read without decoding. */
export interface ImageInfo {
  format: ImageFormat;
  width: number;
  height: number;
}

/** An 8-bit RGB image, row-major, 3 bytes per pixel. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Default pixel-count limit of a decoded image (40 megapixels). */
export const DEFAULT_MAX_PIXELS = 40_000_000;

/**
 * Largest long-to-short side ratio accepted (20:1). The short side is resized to the model's
 * size, so the long side grows by the same factor: a 1x40000 strip would become 248 x 9.9 M
 * pixels (7 GB). 20:1 keeps wide panoramas (typically <= 10:1) and bounds the resized image to
 * 20 times the model's square.
 */
export const MAX_ASPECT_RATIO = 20;

/**
 * Pixels of the largest image a decoder instance is kept after (4 megapixels). An instance's
 * memory only grows, so one that decoded a bigger image is dropped rather than held.
 */
const KEPT_AFTER_PIXELS = 4_000_000;

/**
 * One instance of a codec's WASM decoder, reused from image to image: `init()` instantiates the
 * module afresh each time, which was 30 % of a 500x375 JPEG's decode (1.9 -> 1.3 ms). It is
 * dropped after a failed decode (the failure may leave its memory in any state) and after a big
 * image (`KEPT_AFTER_PIXELS`), and made again on the next image.
 */
class ReusedDecoder<T> {
  #instance?: Promise<T>;
  constructor(readonly codec: { init(): Promise<T> }) {}

  /** `decode(instance)`'s result; `pixels` reads the decoded size from it. */
  async run<R>(decode: (instance: T) => R, pixels: (result: R) => number): Promise<R> {
    const instance = this.#instance ??= this.codec.init();
    try {
      const result = decode(await instance);
      if (pixels(result) > KEPT_AFTER_PIXELS) this.#drop(instance);
      return result;
    } catch (e) {
      this.#drop(instance);
      throw e;
    }
  }

  #drop(instance: Promise<T>): void {
    if (this.#instance === instance) this.#instance = undefined;
  }
}

const jpegDecoder = new ReusedDecoder(jpegCodec);
const pngDecoder = new ReusedDecoder(pngCodec);

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const IHDR = [0x49, 0x48, 0x44, 0x52];

/** Width and height from IHDR, which the PNG spec requires as the first chunk (13 bytes). */
function pngSize(b: Uint8Array): { width: number; height: number } {
  // Signature (8), chunk length (4) and type (4), then the 13 IHDR bytes.
  if (b.length < 29) throw new ImageError("corrupt", "PNG truncated inside its header");
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (view.getUint32(8) !== 13 || !IHDR.every((v, i) => b[12 + i] === v)) {
    throw new ImageError("corrupt", "PNG does not start with a 13-byte IHDR chunk");
  }
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC): the frame header with the size. */
function isSof(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker);
}

/**
 * The frame size from the one SOF before the first scan (SOS). A second SOF means the header
 * lies about the size the decoder may use, so it is refused; a file cut after its SOF is left to
 * the decoder to refuse.
 */
function jpegSize(b: Uint8Array): { width: number; height: number } {
  let size: { width: number; height: number } | undefined;
  let i = 2;
  while (i + 3 < b.length) {
    if (b[i] !== 0xff) throw new ImageError("corrupt", `JPEG marker expected at byte ${i}`);
    const marker = b[i + 1];
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0xda || marker === 0xd9) break; // SOS: entropy-coded data follows; EOI
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      i += 2; // TEM, RSTn, SOI: no length field
      continue;
    }
    const len = (b[i + 2] << 8) | b[i + 3];
    if (len < 2) throw new ImageError("corrupt", `JPEG segment at byte ${i} has length ${len}`);
    if (isSof(marker)) {
      if (size) throw new ImageError("corrupt", "JPEG has a second frame header (SOF)");
      if (len < 8 || i + 9 > b.length) {
        throw new ImageError("corrupt", "JPEG frame header (SOF) is truncated");
      }
      size = { height: (b[i + 5] << 8) | b[i + 6], width: (b[i + 7] << 8) | b[i + 8] };
    }
    i += 2 + len;
  }
  if (!size) throw new ImageError("corrupt", "JPEG has no frame header (truncated or corrupt)");
  return size;
}

/** Reads format and size from the header; throws `ImageError` for anything else. */
export function probeImage(bytes: Uint8Array): ImageInfo {
  if (bytes.length === 0) throw new ImageError("empty", "empty body: no image bytes");
  if (PNG_SIGNATURE.every((v, i) => bytes[i] === v)) return { format: "png", ...pngSize(bytes) };
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return { format: "jpeg", ...jpegSize(bytes) };
  throw new ImageError("unsupported_format", "not a JPEG or PNG image");
}

/** Throws unless the decoder produced the size the header promised (checked before copying). */
export function checkDecodedSize(info: ImageInfo, width: number, height: number): void {
  if (width !== info.width || height !== info.height) {
    throw new ImageError(
      "corrupt",
      `${info.format} decoded to ${width}x${height}, its header says ${info.width}x${info.height}`,
    );
  }
}

async function decodePng(bytes: Uint8Array, info: ImageInfo): Promise<RgbImage> {
  const { width, height, framebuffer } = await pngDecoder.run(
    (png) => png.decode(bytes),
    (d) => d.width * d.height,
  );
  checkDecodedSize(info, width, height);
  const data = new Uint8Array(width * height * 3);
  for (let p = 0, q = 0; q < data.length; p += 4, q += 3) {
    data[q] = framebuffer[p];
    data[q + 1] = framebuffer[p + 1];
    data[q + 2] = framebuffer[p + 2];
  }
  return { width, height, data };
}

async function decodeJpeg(bytes: Uint8Array, info: ImageInfo): Promise<RgbImage> {
  const { width, height, format, buffer } = await jpegDecoder.run(
    (jpeg) => jpeg.decode(bytes),
    (d) => d.width * d.height,
  );
  checkDecodedSize(info, width, height);
  const n = width * height;
  // The decoder hands back its own copy of the pixels: RGB is used as it is.
  if (format === 1) return { width, height, data: buffer.subarray(0, n * 3) };
  const data = new Uint8Array(n * 3);
  if (format === 0) {
    for (let i = 0; i < n; i++) data[3 * i] = data[3 * i + 1] = data[3 * i + 2] = buffer[i];
  } else {
    // Adobe CMYK (stored inverted): the same conversion imagescript's Image.decode applies.
    for (let i = 0; i < n; i++) {
      const k = 1 - buffer[4 * i + 3] / 255;
      for (let c = 0; c < 3; c++) data[3 * i + c] = 255 * (1 - buffer[4 * i + c] / 255) * k;
    }
  }
  return { width, height, data };
}

/**
 * `probeImage` plus the checks made before decoding: a non-empty size within `maxPixels` and
 * `MAX_ASPECT_RATIO`.
 */
export function checkImage(bytes: Uint8Array, maxPixels = DEFAULT_MAX_PIXELS): ImageInfo {
  const info = probeImage(bytes);
  if (info.width === 0 || info.height === 0) {
    throw new ImageError("corrupt", `${info.format} header says ${info.width}x${info.height}`);
  }
  if (info.width * info.height > maxPixels) {
    throw new ImageError(
      "too_large",
      `${info.width}x${info.height} image exceeds the ${maxPixels}-pixel limit`,
    );
  }
  const ratio = Math.max(info.width, info.height) / Math.min(info.width, info.height);
  if (ratio > MAX_ASPECT_RATIO) {
    throw new ImageError(
      "bad_aspect",
      `${info.width}x${info.height} image exceeds the ${MAX_ASPECT_RATIO}:1 aspect-ratio limit ` +
        `(${ratio.toFixed(1)}:1)`,
    );
  }
  return info;
}

/** Decodes JPEG/PNG bytes to RGB (grey, palette and RGBA are converted; alpha is dropped). */
export async function decodeImage(
  bytes: Uint8Array,
  maxPixels = DEFAULT_MAX_PIXELS,
): Promise<RgbImage> {
  const info = checkImage(bytes, maxPixels);
  try {
    return info.format === "png" ? await decodePng(bytes, info) : await decodeJpeg(bytes, info);
  } catch (e) {
    if (e instanceof ImageError) throw e;
    throw new ImageError("corrupt", `cannot decode ${info.format}: ${(e as Error).message}`);
  }
}
