import assert from "node:assert/strict";
import { join } from "node:path";
import { Image } from "imagescript";
import { tome } from "../lib/merge/tome.ts";
import { loadModelBundle } from "../lib/checkpoint/bundle.ts";
import { Classifier } from "../lib/runtime/classifier.ts";
import { BackendError, GraphRejectedError } from "../lib/backend/session.ts";
import { buildViTGraph, GRAPH_VERSION } from "../lib/vit/graph.ts";
import { cachedGraph, graphFileName, STALE_TMP_MS } from "../lib/vit/graph_cache.ts";
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

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const sum = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return Array.from(sum, (v) => v.toString(16).padStart(2, "0")).join("");
}

/** Byte equality without node:assert's diff (a failing diff of 74 KB arrays never ends). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function graphsIn(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((f) => f.endsWith(".onnx")).sort();
}

Deno.test("graph cache: keyed by config, weights, method and graph version; a hit skips the build", async () => {
  const root = await Deno.makeTempDir();
  const a = await loadModelBundle(await writeTinyModel(join(root, "a"), 1));
  const b = await loadModelBundle(await writeTinyModel(join(root, "b"), 2));
  const cache = join(root, "graphs");
  await withCache(cache, async () => {
    assert.ok(sameBytes(await cachedGraph(a), buildViTGraph(a)));
    await cachedGraph(a, tome);
    await cachedGraph(b);
    const files = graphsIn(cache);
    assert.equal(files.length, 3);
    assert.ok(files.every((f) => f.includes(`-v${GRAPH_VERSION}-`)));
    assert.ok(files.some((f) => f.startsWith("tiny_test_vit-tome-")));
    for (const f of files) await Deno.stat(join(cache, `${f}.sha256`));
    // What is cached is what is used, if its checksum matches; else it is rebuilt.
    const plain = join(cache, graphFileName(a, "none"));
    await Deno.writeFile(plain, new Uint8Array([7, 7, 7]));
    assert.ok(sameBytes(await cachedGraph(a), buildViTGraph(a)));
    await Deno.writeFile(plain, new Uint8Array([7, 7, 7]));
    await Deno.writeTextFile(`${plain}.sha256`, await sha256Hex(new Uint8Array([7, 7, 7])));
    assert.ok(sameBytes(await cachedGraph(a), new Uint8Array([7, 7, 7])));
    // An edited config.json (same weights, other head count) gets its own graph.
    const dir = join(root, "a");
    const json = JSON.parse(await Deno.readTextFile(join(dir, "config.json")));
    json.model_args.num_heads = 4;
    await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(json));
    const edited = await loadModelBundle(dir);
    assert.equal(edited.fingerprint, a.fingerprint);
    assert.ok(sameBytes(await cachedGraph(edited), buildViTGraph(edited)));
    assert.ok(!sameBytes(buildViTGraph(edited), buildViTGraph(a)));
    assert.equal(graphsIn(cache).length, 4);
  });
});

Deno.test("graph cache: file names are safe whatever the config's architecture says", async () => {
  const bundle = await loadModelBundle(await writeTinyModel(join(await Deno.makeTempDir(), "m")));
  const hostile = { ...bundle, config: { ...bundle.config, name: "../../x/..\\y\0z" } };
  const name = graphFileName(hostile, "none");
  assert.match(name, /^[A-Za-z0-9_+.-]+$/);
  assert.ok(!name.includes(".."), name);
  assert.notEqual(name, graphFileName(bundle, "none"));
});

Deno.test("graph cache: a tampered or truncated graph is rebuilt, and the model still classifies", async () => {
  const root = await Deno.makeTempDir();
  const model = await writeTinyModel(join(root, "m"));
  const cache = join(root, "graphs");
  const image = await new Image(40, 30).fill(0x806040ff).encode();
  const classify = async () => {
    const c = await Classifier.load({ model, backend: "wasm" });
    const [out] = await c.run([await c.prepare(image)]);
    await c.release();
    return out.logits;
  };
  await withCache(cache, async () => {
    const logits = await classify();
    const [file] = graphsIn(cache);
    const path = join(cache, file);
    const good = await Deno.readFile(path);
    // Truncated: the checksum says so before any session sees it.
    await Deno.writeFile(path, good.subarray(0, good.length >> 1));
    assert.deepEqual(await classify(), logits);
    assert.ok(sameBytes(await Deno.readFile(path), good));
    // Other bytes with a matching checksum: the session refuses them, so the graph is rebuilt.
    const junk = new Uint8Array(64).fill(7);
    await Deno.writeFile(path, junk);
    await Deno.writeTextFile(`${path}.sha256`, await sha256Hex(junk));
    assert.deepEqual(await classify(), logits);
    assert.ok(sameBytes(await Deno.readFile(path), good));
    // A backend that cannot start is no fault of the graph: the error, and no rebuild.
    const before = (await Deno.stat(path)).mtime;
    await assert.rejects(
      Classifier.load({ model, backend: "webgpu" }),
      (e: Error) => e instanceof BackendError && !(e instanceof GraphRejectedError),
    );
    assert.deepEqual((await Deno.stat(path)).mtime, before);
  });
});

Deno.test("graph cache: temporary files of interrupted writes are removed after an hour", async () => {
  const root = await Deno.makeTempDir();
  const bundle = await loadModelBundle(await writeTinyModel(join(root, "m")));
  const cache = join(root, "graphs");
  await Deno.mkdir(cache);
  const old = join(cache, "x.onnx.1.tmp");
  const fresh = join(cache, "x.onnx.2.tmp");
  await Deno.writeFile(old, new Uint8Array(1));
  await Deno.writeFile(fresh, new Uint8Array(1));
  const then = new Date(Date.now() - STALE_TMP_MS - 60_000);
  await Deno.utime(old, then, then);
  await withCache(cache, () => cachedGraph(bundle));
  await assert.rejects(Deno.stat(old), Deno.errors.NotFound);
  await Deno.stat(fresh);
});

Deno.test("graph cache: an unwritable cache directory only means building every time", async () => {
  const root = await Deno.makeTempDir();
  const bundle = await loadModelBundle(await writeTinyModel(join(root, "m")));
  const blocker = join(root, "file");
  await Deno.writeTextFile(blocker, "");
  const graph = await withCache(join(blocker, "graphs"), () => cachedGraph(bundle));
  assert.ok(sameBytes(graph, buildViTGraph(bundle)));
  await withCache("off", async () => assert.ok(sameBytes(await cachedGraph(bundle), graph)));
});
