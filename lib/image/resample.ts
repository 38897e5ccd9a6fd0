/**
 * The WebAssembly SIMD kernels of the resize and the normalisation (`resample.wat`): one instance
 * per thread, whose memory holds the buffers of the call in hand.
 * @module
 */
import { RESAMPLE_WASM_BASE64 } from "./resample_wasm.ts";

/** The kernels `resample.wat` exports; every pointer is a byte offset into the memory. */
export interface ResampleKernels {
  horizontal(
    src: number,
    srcStride: number,
    rows: number,
    offsets: number,
    counts: number,
    weights: number,
    ksize: number,
    cols: number,
    out: number,
  ): void;
  vertical(
    src: number,
    stride: number,
    rows: number,
    firsts: number,
    counts: number,
    weights: number,
    ksize: number,
    out: number,
  ): void;
  normalize(src: number, n: number, lut: number, out: number): void;
}

/** Room after every buffer: the kernels read and write up to 15 bytes past a buffer's end. */
const SLACK = 16;
const PAGE = 65536;
/** An instance whose memory grew beyond this is dropped after its call (memory never shrinks). */
const KEPT_UP_TO_BYTES = 32 << 20;

const MODULE = new WebAssembly.Module(
  Uint8Array.from(atob(RESAMPLE_WASM_BASE64), (c) => c.charCodeAt(0)),
);

interface Instance {
  kernels: ResampleKernels;
  memory: WebAssembly.Memory;
}

let kept: Instance | undefined;

function instantiate(): Instance {
  const exports = new WebAssembly.Instance(MODULE).exports;
  return {
    kernels: exports as unknown as ResampleKernels,
    memory: exports.memory as WebAssembly.Memory,
  };
}

/**
 * Runs `use` with the kernels and a memory holding buffers of `sizes` bytes (each 16-byte aligned,
 * with room after it); `at` gives their offsets and `memory` the buffer to read and write them
 * through. Synchronous, so one call owns the instance until it returns.
 * @example
 * ```ts
 * const sum = withKernels([16], (_k, memory, [p]) => new Uint8Array(memory, p, 16).fill(1).length);
 * ```
 */
export function withKernels<T>(
  sizes: readonly number[],
  use: (kernels: ResampleKernels, memory: ArrayBuffer, at: number[]) => T,
): T {
  const at: number[] = [];
  let end = 0;
  for (const size of sizes) {
    at.push(end);
    end += Math.ceil((size + SLACK) / SLACK) * SLACK;
  }
  const instance = kept ??= instantiate();
  const { memory } = instance;
  const short = end - memory.buffer.byteLength;
  if (short > 0) memory.grow(Math.ceil(short / PAGE));
  try {
    return use(instance.kernels, memory.buffer as ArrayBuffer, at);
  } finally {
    if (memory.buffer.byteLength > KEPT_UP_TO_BYTES) kept = undefined;
  }
}
