import assert from "node:assert/strict";
import { float, GraphBuilder } from "../lib/onnx/builder.ts";
import { createSession } from "../lib/backend/session.ts";

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
