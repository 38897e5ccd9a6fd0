import assert from "node:assert/strict";
import { float, GraphBuilder } from "../lib/onnx/builder.ts";
import { BackendError, createSession } from "../lib/backend/session.ts";
import { ModelProto, weightsOutside } from "../lib/onnx/proto.ts";

Deno.test("builder: a LayerNorm -> MatMul -> Softmax graph matches a TypeScript reference", async () => {
  const g = new GraphBuilder();
  const x = g.input("x", "float32", ["batch", 3]);
  const w = g.initializer("w", {
    dtype: "float32",
    dims: [3, 2],
    data: new Float32Array([1, 2, 3, 4, 5, 6]),
  });
  const ln = g.op("LayerNormalization", [x, g.constFloat([1, 1, 1]), g.constFloat([0, 0, 0])], {
    axis: -1,
    epsilon: float(1e-5),
  });
  g.output(g.op("Softmax", [g.op("MatMul", [ln, w])], { axis: -1 }), "y");
  const session = await createSession(g.toModel(), { backend: "wasm" });
  const input = new Float32Array([1, 2, 4, -1, 0, 1]);
  const out = (await session.run({ x: { data: input, dims: [2, 3] } })).y.data as Float32Array;
  for (let row = 0; row < 2; row++) {
    const v = Array.from(input.subarray(row * 3, row * 3 + 3));
    const mean = v.reduce((a, b) => a + b) / 3;
    const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / 3 + 1e-5);
    const n = v.map((t) => (t - mean) / sd);
    const logits = [0, 1].map((j) =>
      n.reduce((a, t, i) => a + t * [1, 2, 3, 4, 5, 6][i * 2 + j], 0)
    );
    const e = logits.map(Math.exp);
    const expected = e.map((t) => t / (e[0] + e[1]));
    for (let j = 0; j < 2; j++) assert.ok(Math.abs(out[row * 2 + j] - expected[j]) < 1e-5);
  }
  await session.release();
});

Deno.test("builder: int constants, multi-output nodes and tensor attributes", async () => {
  const g = new GraphBuilder();
  const x = g.input("x", "float32", [5]);
  const [values, indices] = g.opN("TopK", [x, g.constInt([2])], 2, { axis: 0 });
  const filled = g.op("ConstantOfShape", [g.constInt([3])], {
    value: { dtype: "float32", dims: [1], data: new Float32Array([2.5]) },
  });
  g.output(values, "values");
  g.output(indices, "indices", "int64");
  g.output(filled, "filled");
  const session = await createSession(g.toModel(), { backend: "wasm" });
  const out = await session.run({ x: { data: new Float32Array([3, 9, 1, 7, 5]), dims: [5] } });
  assert.deepEqual(Array.from(out.values.data as Float32Array), [9, 7]);
  assert.deepEqual(Array.from(out.indices.data as BigInt64Array), [1n, 3n]);
  assert.deepEqual(Array.from(out.filled.data as Float32Array), [2.5, 2.5, 2.5]);
});

Deno.test("builder: constants are deduplicated and names are single-assignment", () => {
  const g = new GraphBuilder();
  assert.equal(g.constInt([1, 2]), g.constInt([1, 2]));
  assert.notEqual(g.constInt(1), g.constInt([1]));
  g.input("x", "float32", [1]);
  assert.throws(() => g.input("x", "float32", [1]), /already defined/);
  assert.throws(
    () => g.initializer("w", { dtype: "float32", dims: [2, 2], data: new Float32Array(3) }),
    /3 values for shape \[2,2\]/,
  );
});

/** `y = x W + b` with `x` of shape [1, n], W of [n, 2] filled from `seed`, b = [0.5, -0.5]. */
function affine(n: number, seed: number) {
  const g = new GraphBuilder();
  const x = g.input("x", "float32", [1, n]);
  const data = Float32Array.from({ length: n * 2 }, (_, i) => Math.sin(seed + i));
  const w = g.initializer("w", { dtype: "float32", dims: [n, 2], data });
  const b = g.initializer("b", {
    dtype: "float32",
    dims: [2],
    data: new Float32Array([0.5, -0.5]),
  });
  g.output(g.op("Add", [g.op("MatMul", [x, w]), b]), "y");
  const input = Float32Array.from({ length: n }, (_, i) => Math.cos(i));
  const expected = [0, 1].map((j) =>
    input.reduce((a, t, i) => a + t * data[i * 2 + j], 0) + [0.5, -0.5][j]
  );
  return { model: g.toModel(), data, input, expected };
}

Deno.test("proto: weightsOutside moves large initializers out as views and keeps small ones", () => {
  const { model, data } = affine(300, 1);
  const { graph, files } = weightsOutside(model);
  assert.equal(files.length, 1);
  assert.deepEqual(new Uint8Array(files[0].data), new Uint8Array(data.buffer));
  assert.equal(files[0].data.buffer, model.buffer, "a view of the model's bytes, not a copy");
  assert.ok(graph.byteLength < model.byteLength - data.byteLength + 100);
  const decoded = ModelProto.toObject(ModelProto.decode(graph)) as {
    graph: { initializer: Record<string, unknown>[] };
  };
  const [w, b] = decoded.graph.initializer;
  assert.equal(w.data_location, 1);
  assert.deepEqual(w.external_data, [
    { key: "location", value: files[0].path },
    { key: "offset", value: "0" },
    { key: "length", value: String(data.byteLength) },
  ]);
  assert.equal(b.data_location, undefined);
  assert.equal((b.raw_data as Uint8Array).byteLength, 8);
});

Deno.test("proto: weightsOutside reaches the initializers of subgraphs", () => {
  const raw = new Uint8Array(2048).fill(7);
  const branch = {
    name: "then",
    initializer: [{ name: "w", dims: [512], data_type: 1, raw_data: raw }],
  };
  const model = ModelProto.encode(ModelProto.fromObject({
    graph: { node: [{ op_type: "If", attribute: [{ name: "then_branch", type: 5, g: branch }] }] },
  })).finish();
  const { files } = weightsOutside(model);
  assert.equal(files.length, 1);
  assert.deepEqual(new Uint8Array(files[0].data), raw);
});

Deno.test("proto: WASM sessions created at once each run their own weights outside the graph", async () => {
  const models = [affine(300, 1), affine(300, 2), affine(400, 3)];
  const sessions = await Promise.all(
    models.map((m) => createSession(m.model, { backend: "wasm" })),
  );
  for (const [i, session] of sessions.entries()) {
    const { input, expected } = models[i];
    const out = await session.run({ x: { data: input, dims: [1, input.length] } });
    const y = Array.from(out.y.data as Float32Array);
    for (let j = 0; j < 2; j++) assert.ok(Math.abs(y[j] - expected[j]) < 1e-4, `model ${i}: ${y}`);
    await session.release();
  }
});

Deno.test("proto: a WASM session of bytes that are no model is a clear error, and the next one starts", async () => {
  await assert.rejects(
    createSession(new TextEncoder().encode("not a model at all"), { backend: "wasm" }),
    (e: Error) =>
      e instanceof BackendError && /wasm: cannot create a session: not an ONNX/.test(e.message),
  );
  const { model, input, expected } = affine(300, 4);
  const session = await createSession(model, { backend: "wasm" });
  const y = (await session.run({ x: { data: input, dims: [1, 300] } })).y.data as Float32Array;
  assert.ok(Math.abs(y[0] - expected[0]) < 1e-4);
  await session.release();
});
