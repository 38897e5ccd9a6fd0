// The classifier's own arithmetic on its outputs.
import assert from "node:assert/strict";
import { topK } from "../lib/runtime/classifier.ts";

Deno.test("topK: the k highest in order, equal logits by index, softmax scores; k beyond n or 0", () => {
  const labels = ["a", "b", "c", "d", "e"];
  const logits = Float32Array.of(1, 3, 3, -2, 2);
  const top = topK(logits, 3, labels);
  assert.deepEqual(top.map((p) => p.label), ["b", "c", "e"]);
  const z = [...logits].reduce((s, v) => s + Math.exp(v - 3), 0);
  assert.ok(Math.abs(top[2].score - Math.exp(2 - 3) / z) < 1e-12);
  // The same order as sorting every class, on random logits with many ties.
  let seed = 3;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 7;
  const many = Float32Array.from({ length: 1000 }, next);
  const sorted = [...many.keys()].sort((a, b) => many[b] - many[a] || a - b).slice(0, 10);
  assert.deepEqual(topK(many, 10, []).map((p) => p.index), sorted);
  assert.equal(topK(logits, 9, labels).length, 5);
  assert.deepEqual(topK(logits, 0, labels), []);
});
