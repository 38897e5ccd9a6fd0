/**
 * Built graphs cached on disk, keyed by model config, merge method, graph version and a
 * fingerprint of the weights, so a restart skips the build. Each graph has a sha256 sidecar
 * (`<graph>.sha256`): a truncated or altered graph, or one that fails to load, is rebuilt. The
 * cache is an optimisation only: without a writable (or readable) cache directory the graph is
 * built in memory, as before.
 * @module
 */
import { sha256Hex } from "../hash.ts";
import { join } from "node:path";
import type { MergeMethod } from "../merge/step.ts";
import { hubCacheDir, type ModelBundle } from "../checkpoint/bundle.ts";
import { GraphRejectedError } from "../backend/session.ts";
import { buildViTGraph, GRAPH_VERSION, type GraphOptions, segmentLength } from "./graph.ts";

/** Temporary files of interrupted writes older than this (one hour) are removed. */
export const STALE_TMP_MS = 60 * 60 * 1000;

/** `$EDGEMERGE_GRAPH_CACHE` (a directory, or `off`), else `graphs/` in the edgemerge cache. */
export function graphCacheDir(): string | undefined {
  const env = Deno.env.get("EDGEMERGE_GRAPH_CACHE");
  if (env === "off") return undefined;
  return env ?? join(hubCacheDir(), "graphs");
}

let warned = false;

/**
 * The cache file name of a graph. The readable part is sanitised (the architecture comes from
 * a downloaded config.json and must not steer the path); the key hashes the parsed config (every
 * field the graph is built from, so an edited config.json gets a new graph), the variant, the
 * graph version and the weights fingerprint.
 */
export function graphFileName(bundle: ModelBundle, variant: string): string {
  const key = sha256Hex(
    JSON.stringify([bundle.config, variant, GRAPH_VERSION, bundle.fingerprint]),
  );
  const label = `${bundle.config.name}-${variant}`.replace(/[^A-Za-z0-9_+-]/g, "_").slice(0, 80);
  return `${label}-v${GRAPH_VERSION}-${key.slice(0, 32)}.onnx`;
}

/** The cached graph at `path` if its sidecar checksum matches, else undefined. */
async function readVerified(path: string): Promise<Uint8Array | undefined> {
  try {
    const [graph, sum] = await Promise.all([
      Deno.readFile(path),
      Deno.readTextFile(`${path}.sha256`),
    ]);
    return sha256Hex(graph) === sum.trim() ? graph : undefined;
  } catch {
    return undefined; // not cached yet (or unreadable)
  }
}

/** Writes `data` to `path` through a temporary file, so readers never see half a file. */
async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await (typeof data === "string" ? Deno.writeTextFile(tmp, data) : Deno.writeFile(tmp, data));
  await Deno.rename(tmp, path);
}

/** Removes `*.tmp` files left in `dir` by writes interrupted more than `STALE_TMP_MS` ago. */
async function removeStaleTmp(dir: string): Promise<void> {
  const now = Date.now();
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".tmp")) continue;
    const path = join(dir, entry.name);
    try {
      const { mtime } = await Deno.stat(path);
      if (mtime && now - mtime.getTime() > STALE_TMP_MS) await Deno.remove(path);
    } catch {
      // Renamed or removed by another writer meanwhile: nothing to clean.
    }
  }
}

/** Stores a graph and its checksum (graph first: a graph without a checksum is never used). */
async function store(dir: string, path: string, graph: Uint8Array): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
    await removeStaleTmp(dir);
    await writeAtomic(path, graph);
    await writeAtomic(`${path}.sha256`, `${sha256Hex(graph)}\n`);
  } catch (e) {
    if (!warned) console.error(`edgemerge: graph cache off (${(e as Error).message})`);
    warned = true;
  }
}

/**
 * `use` of the graph of `bundle` with `method` (none: plain), from the cache or built (and
 * cached). When the backend rejects a cached graph (`GraphRejectedError`), the graph is rebuilt
 * and `use` runs once more on it; other errors, and its errors on a fresh graph, are thrown.
 */
export async function withCachedGraph<T>(
  bundle: ModelBundle,
  method: MergeMethod | MergeMethod[] | undefined,
  options: GraphOptions,
  use: (graph: Uint8Array) => Promise<T>,
): Promise<T> {
  const build = () => buildViTGraph(bundle, method, options);
  const dir = graphCacheDir();
  if (!dir || !bundle.fingerprint) return use(build());
  const names = method === undefined ? ["none"] : [method].flat().map((m) => m.name);
  const variant = names.join("+") + (options.sources ? "-sources" : "") +
    (options.segments ? `-segments${segmentLength(bundle.config, options)}` : "") +
    (options.truncate ? "-truncate" : "");
  const path = join(dir, graphFileName(bundle, variant));
  const cached = await readVerified(path);
  if (cached) {
    try {
      return await use(cached);
    } catch (e) {
      // Only the graph's own fault is mended by a rebuild: a backend that cannot load (FFI
      // denied, no adapter) would fail on a fresh graph too.
      if (!(e instanceof GraphRejectedError)) throw e;
      console.error(`edgemerge: cached graph ${path} failed to load, rebuilding: ${e}`);
    }
  }
  const graph = build();
  await store(dir, path, graph);
  return use(graph);
}

/** The graph of `bundle` with `method` (none: plain), from the cache or built (and cached). */
export function cachedGraph(
  bundle: ModelBundle,
  method?: MergeMethod | MergeMethod[],
  options: GraphOptions = {},
): Promise<Uint8Array> {
  return withCachedGraph(bundle, method, options, (graph) => Promise.resolve(graph));
}
