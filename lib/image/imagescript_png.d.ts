// Types for imagescript's WASM PNG decoder (`imagescript/wasm/node/png.js`).
interface DecodedPng {
  width: number;
  height: number;
  /** RGBA, 8 bits per channel. */
  framebuffer: Uint8Array;
}
declare const codec: { init(): Promise<{ decode(data: Uint8Array): DecodedPng }> };
export default codec;
