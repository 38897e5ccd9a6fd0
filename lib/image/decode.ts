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
export type ImageErrorCode = "empty" | "unsupported_format" | "corrupt" | "too_large";

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

/** Default pixel-count limit (40 megapixels). */
export const DEFAULT_MAX_PIXELS = 40_000_000;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function jpegSize(b: Uint8Array): { width: number; height: number } | undefined {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1];
    if (marker === 0xff) {
      i++;
      continue;
    }
    const len = (b[i + 2] << 8) | b[i + 3];
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      return { height: (b[i + 5] << 8) | b[i + 6], width: (b[i + 7] << 8) | b[i + 8] };
    }
    i += 2 + len;
  }
  return undefined;
}

/** Reads format and size from the header; throws `ImageError` for anything else. */
export function probeImage(bytes: Uint8Array): ImageInfo {
  if (bytes.length === 0) throw new ImageError("empty", "empty body: no image bytes");
  if (PNG_SIGNATURE.every((v, i) => bytes[i] === v)) {
    if (bytes.length < 24) throw new ImageError("corrupt", "PNG truncated inside its header");
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return { format: "png", width: view.getUint32(16), height: view.getUint32(20) };
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    const size = jpegSize(bytes);
    if (!size) throw new ImageError("corrupt", "JPEG has no frame header (truncated or corrupt)");
    return { format: "jpeg", ...size };
  }
  throw new ImageError("unsupported_format", "not a JPEG or PNG image");
}

async function decodePng(bytes: Uint8Array): Promise<RgbImage> {
  const { width, height, framebuffer } = (await pngCodec.init()).decode(bytes);
  const data = new Uint8Array(width * height * 3);
  for (let p = 0, q = 0; q < data.length; p += 4, q += 3) {
    data[q] = framebuffer[p];
    data[q + 1] = framebuffer[p + 1];
    data[q + 2] = framebuffer[p + 2];
  }
  return { width, height, data };
}

async function decodeJpeg(bytes: Uint8Array): Promise<RgbImage> {
  const { width, height, format, buffer } = (await jpegCodec.init()).decode(bytes);
  const n = width * height;
  const data = new Uint8Array(n * 3);
  if (format === 1) {
    data.set(buffer.subarray(0, n * 3));
  } else if (format === 0) {
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

/** `probeImage` plus the checks made before decoding: a non-empty size within `maxPixels`. */
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
  return info;
}

/** Decodes JPEG/PNG bytes to RGB (grey, palette and RGBA are converted; alpha is dropped). */
export async function decodeImage(
  bytes: Uint8Array,
  maxPixels = DEFAULT_MAX_PIXELS,
): Promise<RgbImage> {
  const info = checkImage(bytes, maxPixels);
  let image: RgbImage;
  try {
    image = info.format === "png" ? await decodePng(bytes) : await decodeJpeg(bytes);
  } catch (e) {
    throw new ImageError("corrupt", `cannot decode ${info.format}: ${(e as Error).message}`);
  }
  if (image.width !== info.width || image.height !== info.height) {
    throw new ImageError("corrupt", `${info.format} decoded to an unexpected size`);
  }
  return image;
}
