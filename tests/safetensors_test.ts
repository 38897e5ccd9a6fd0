import assert from "node:assert/strict";
import {
  readSafetensors,
  SafetensorsError,
  writeSafetensors,
} from "../lib/checkpoint/safetensors.ts";

const tensors = new Map([
  ["a.weight", { dims: [2, 3], data: new Float32Array([0, 1.5, -2, 3.25, 1e-3, -65504]) }],
  ["b", { dims: [1], data: new Float32Array([0.333]) }],
]);

Deno.test("safetensors: F32 round trip is exact", () => {
  const back = readSafetensors(writeSafetensors(tensors, "F32"));
  assert.deepEqual([...back.keys()], ["a.weight", "b"]);
  assert.deepEqual(back.get("a.weight")!.dims, [2, 3]);
  assert.deepEqual(back.get("a.weight")!.data, tensors.get("a.weight")!.data);
});

Deno.test("safetensors: F16 and BF16 round trips within their precision", () => {
  for (const [dtype, tol] of [["F16", 1e-3], ["BF16", 8e-3]] as const) {
    const back = readSafetensors(writeSafetensors(tensors, dtype));
    for (const [name, t] of tensors) {
      back.get(name)!.data.forEach((v, i) => {
        const want = t.data[i];
        assert.ok(
          Math.abs(v - want) <= tol * Math.max(1, Math.abs(want)),
          `${dtype} ${name}[${i}]`,
        );
      });
    }
  }
});

function corrupt(edit: (bytes: Uint8Array) => Uint8Array): () => void {
  return () => readSafetensors(edit(writeSafetensors(tensors)), "m.safetensors");
}

function header(json: unknown, data = new Uint8Array(0)): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(json));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

Deno.test("safetensors: corrupt files name the file and the tensor", () => {
  const cases: [() => void, RegExp][] = [
    [corrupt((b) => b.subarray(0, 5)), /m\.safetensors: truncated/],
    [corrupt((b) => b.subarray(0, b.length - 3)), /m\.safetensors: tensor b: truncated/],
    [corrupt((b) => (b.set([0xff, 0xff, 0xff, 0x7f], 0), b)), /header length .* exceeds/],
    [corrupt((b) => (b[8] = 0x7b + 1, b)), /header is not valid JSON/],
    [
      () =>
        readSafetensors(
          header({ t: { dtype: "I8", shape: [1], data_offsets: [0, 1] } }),
          "m.safetensors",
        ),
      /tensor t: unsupported dtype "I8"/,
    ],
    [
      () =>
        readSafetensors(
          header({ t: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }, new Uint8Array(8)),
          "m.safetensors",
        ),
      /tensor t: 4 bytes for F32\[2\]/,
    ],
    [
      () =>
        readSafetensors(
          header({ t: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }),
          "m.safetensors",
        ),
      /tensor t: invalid shape/,
    ],
    [
      () =>
        readSafetensors(
          header({ t: { dtype: "F32", shape: [1], data_offsets: [4, 0] } }),
          "m.safetensors",
        ),
      /tensor t: invalid data_offsets/,
    ],
    [() => readSafetensors(header([1, 2])), /not a JSON object/],
  ];
  for (const [fn, pattern] of cases) {
    assert.throws(fn, (e: Error) => e instanceof SafetensorsError && pattern.test(e.message));
  }
});

Deno.test("safetensors: overlapping or out-of-data byte ranges are refused", () => {
  const f32 = (begin: number, end: number) => ({
    dtype: "F32",
    shape: [(end - begin) / 4],
    data_offsets: [begin, end],
  });
  const data = new Uint8Array(16);
  const read = (json: unknown) => () => readSafetensors(header(json, data), "m.safetensors");
  const cases: [() => void, RegExp][] = [
    [read({ a: f32(0, 8), b: f32(4, 12) }), /tensors a \[0, 8\) and b \[4, 12\) overlap/],
    [read({ b: f32(8, 16), a: f32(0, 12) }), /tensors a \[0, 12\) and b \[8, 16\) overlap/],
    [read({ a: f32(0, 16), b: f32(0, 4) }), /overlap/],
    [read({ a: f32(8, 20) }), /tensor a: truncated \(needs byte 20, data has 16\)/],
  ];
  for (const [fn, pattern] of cases) {
    assert.throws(fn, (e: Error) => e instanceof SafetensorsError && pattern.test(e.message));
  }
  // Adjacent ranges and empty tensors share no bytes.
  const ok = readSafetensors(header({ a: f32(0, 8), e: f32(8, 8), b: f32(8, 16) }, data));
  assert.deepEqual([...ok.keys()], ["a", "e", "b"]);
});
