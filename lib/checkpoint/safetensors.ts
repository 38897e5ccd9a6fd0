/**
 * Reading and writing the safetensors format: an 8-byte little-endian header length, a JSON
 * header (`{name: {dtype, shape, data_offsets}}`), then the raw tensor bytes. F32, F16 and BF16
 * are read as float32; everything in the header is validated before any data is used (dtype,
 * shape, byte ranges inside the data section and disjoint).
 * @module
 */
import { UserError } from "../errors.ts";

/** A float32 tensor in row-major order. */
export interface Tensor {
  dims: number[];
  data: Float32Array;
}

/** A safetensors file is truncated, corrupt or holds something unsupported. */
export class SafetensorsError extends UserError {
  override name = "SafetensorsError";
}

const ITEM_SIZE: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function decode(dtype: string, bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / ITEM_SIZE[dtype];
  const out = new Float32Array(n);
  if (dtype === "F32") {
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  } else if (dtype === "F16") {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  } else {
    const bits = new Uint32Array(n);
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(2 * i, true) << 16;
    out.set(new Float32Array(bits.buffer));
  }
  return out;
}

/** Parses safetensors `bytes`; `file` names the source in errors. */
export function readSafetensors(bytes: Uint8Array, file = "<memory>"): Map<string, Tensor> {
  const fail = (what: string) => new SafetensorsError(`${file}: ${what}`);
  if (bytes.byteLength < 8) throw fail(`truncated: ${bytes.byteLength} bytes, no header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > bytes.byteLength) {
    throw fail(`header length ${headerLen} exceeds the file (${bytes.byteLength} bytes)`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(
      bytes.subarray(8, 8 + headerLen),
    ));
  } catch (e) {
    throw fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw fail("header is not a JSON object");
  }
  const data = bytes.subarray(8 + headerLen);
  const entries = Object.entries(header).filter(([name]) => name !== "__metadata__")
    .map(([name, entry]) => checkEntry(name, entry, data.byteLength, fail));
  checkDisjoint(entries, fail);
  const tensors = new Map<string, Tensor>();
  for (const { name, dtype, shape, begin, end } of entries) {
    tensors.set(name, { dims: shape, data: decode(dtype, data.subarray(begin, end)) });
  }
  return tensors;
}

/** A header entry checked against its dtype, shape and the data section's size. */
interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

function checkEntry(
  name: string,
  entry: unknown,
  dataBytes: number,
  fail: (what: string) => SafetensorsError,
): Entry {
  const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as Record<string, unknown>;
  if (typeof dtype !== "string" || !(dtype in ITEM_SIZE)) {
    throw fail(`tensor ${name}: unsupported dtype ${JSON.stringify(dtype)} (F32, F16, BF16)`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw fail(`tensor ${name}: invalid shape ${JSON.stringify(shape)}`);
  }
  if (
    !Array.isArray(offsets) || offsets.length !== 2 ||
    !offsets.every((o) => Number.isInteger(o) && o >= 0) || offsets[0] > offsets[1]
  ) {
    throw fail(`tensor ${name}: invalid data_offsets ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  const expected = shape.reduce((a: number, b: number) => a * b, 1) * ITEM_SIZE[dtype];
  if (end - begin !== expected) {
    throw fail(
      `tensor ${name}: ${end - begin} bytes for ${dtype}[${shape}] (${expected} expected)`,
    );
  }
  if (end > dataBytes) {
    throw fail(`tensor ${name}: truncated (needs byte ${end}, data has ${dataBytes})`);
  }
  return { name, dtype, shape, begin, end };
}

/** Throws if two tensors share bytes: a header that aliases weights is corrupt or hostile. */
function checkDisjoint(entries: Entry[], fail: (what: string) => SafetensorsError): void {
  const sorted = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const [prev, next] = [sorted[i - 1], sorted[i]];
    if (next.begin < prev.end) {
      throw fail(
        `tensors ${prev.name} [${prev.begin}, ${prev.end}) and ${next.name} ` +
          `[${next.begin}, ${next.end}) overlap`,
      );
    }
  }
}

function floatToHalf(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >> 16) & 0x8000;
  const exp = ((x >> 23) & 0xff) - 127 + 15;
  const mant = x & 0x7fffff;
  if (exp >= 0x1f) return sign | 0x7c00 | (((x >> 23) & 0xff) === 0xff && mant ? 0x200 : 0);
  if (exp <= 0) {
    if (exp < -10) return sign;
    const m = (mant | 0x800000) >> (1 - exp);
    return sign | ((m + 0x1000) >> 13);
  }
  return sign | (exp << 10) | ((mant + 0x1000) >> 13);
}

/** Serialises float32 tensors as safetensors, stored as `dtype` (tests, tools). */
export function writeSafetensors(
  tensors: Map<string, Tensor>,
  dtype: "F32" | "F16" | "BF16" = "F32",
): Uint8Array {
  const item = ITEM_SIZE[dtype];
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of tensors) {
    const size = t.data.length * item;
    header[name] = { dtype, shape: t.dims, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.byteLength;
  for (const t of tensors.values()) {
    for (const v of t.data) {
      if (dtype === "F32") view.setFloat32(pos, v, true);
      else if (dtype === "F16") view.setUint16(pos, floatToHalf(v), true);
      else view.setUint16(pos, new Uint32Array(new Float32Array([v]).buffer)[0] >>> 16, true);
      pos += item;
    }
  }
  return out;
}
