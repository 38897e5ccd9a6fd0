/**
 * PNG encoding with imagescript's pure-JS encoder (no native codec, so it runs on the edge).
 * @module
 */
// @ts-types="./imagescript_png_encode.d.ts"
import png from "imagescript/png/node.js";

/** PNG bytes of an RGBA image (4 bytes per pixel, row-major). */
export function encodePng(rgba: Uint8Array, width: number, height: number): Uint8Array {
  return png.encode(rgba, { width, height, level: 1, channels: 4 });
}
