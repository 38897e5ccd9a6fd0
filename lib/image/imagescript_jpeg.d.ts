// Types for imagescript's WASM JPEG decoder (`imagescript/wasm/node/jpeg.js`).
interface DecodedJpeg {
  width: number;
  height: number;
  /** 0 grey, 1 RGB, 2 CMYK. */
  format: number;
  buffer: Uint8Array;
}
declare const codec: { init(): Promise<{ decode(data: Uint8Array): DecodedJpeg }> };
export default codec;
