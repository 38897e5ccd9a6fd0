import assert from "node:assert/strict";
import { join } from "node:path";
import { tome } from "../lib/merge/tome.ts";
import { loadModelBundle } from "../lib/checkpoint/bundle.ts";
import { buildViTGraph, GRAPH_VERSION } from "../lib/vit/graph.ts";
import { cachedGraph } from "../lib/vit/graph_cache.ts";
import { writeTinyModel } from "./helpers/fixtures.ts";

async function withCache<T>(dir: string, f: () => Promise<T>): Promise<T> {
  const before = Deno.env.get("EDGEMERGE_GRAPH_CACHE");
  Deno.env.set("EDGEMERGE_GRAPH_CACHE", dir);
  try {
    return await f();
  } finally {
    if (before === undefined) Deno.env.delete("EDGEMERGE_GRAPH_CACHE");
    else Deno.env.set("EDGEMERGE_GRAPH_CACHE", before);
  }
}

Deno.test("graph cache: keyed by weights, method and graph version; a hit skips the build", async () => {
  const root = await Deno.makeTempDir();
  const a = await loadModelBundle(await writeTinyModel(join(root, "a"), 1));
  const b = await loadModelBundle(await writeTinyModel(join(root, "b"), 2));
  const cache = join(root, "graphs");
  await withCache(cache, async () => {
    assert.deepEqual(await cachedGraph(a), buildViTGraph(a));
    await cachedGraph(a, tome);
    await cachedGraph(b);
    const files = [...Deno.readDirSync(cache)].map((e) => e.name).sort();
    assert.equal(files.length, 3);
    assert.ok(files.every((f) => f.includes(`-v${GRAPH_VERSION}-`) && f.endsWith(".onnx")));
    assert.ok(files.some((f) => f.startsWith("tiny_test_vit-tome-")));
    // What is cached is what is used: a marked file comes back as is.
    const plain = files.find((f) => f.includes(`-none-`) && f.includes(a.fingerprint!))!;
    await Deno.writeFile(join(cache, plain), new Uint8Array([7, 7, 7]));
    assert.deepEqual(await cachedGraph(a), new Uint8Array([7, 7, 7]));
  });
});

Deno.test("graph cache: an unwritable cache directory only means building every time", async () => {
  const root = await Deno.makeTempDir();
  const bundle = await loadModelBundle(await writeTinyModel(join(root, "m")));
  const blocker = join(root, "file");
  await Deno.writeTextFile(blocker, "");
  const graph = await withCache(join(blocker, "graphs"), () => cachedGraph(bundle));
  assert.deepEqual(graph, buildViTGraph(bundle));
  await withCache("off", async () => assert.deepEqual(await cachedGraph(bundle), graph));
});
