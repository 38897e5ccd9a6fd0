/**
 * Built graphs cached on disk, keyed by model, merge method, graph version and a fingerprint of
 * the weights, so a restart skips the build. The cache is an optimisation only: without a
 * writable (or readable) cache directory the graph is built in memory, as before.
 * @module
 */
import { join } from "node:path";
import type { MergeMethod } from "../merge/step.ts";
import { hubCacheDir, type ModelBundle } from "../checkpoint/bundle.ts";
import { buildViTGraph, GRAPH_VERSION, type GraphOptions, segmentLength } from "./graph.ts";

/** `$EDGEMERGE_GRAPH_CACHE` (a directory, or `off`), else `graphs/` in the edgemerge cache. */
export function graphCacheDir(): string | undefined {
  const env = Deno.env.get("EDGEMERGE_GRAPH_CACHE");
  if (env === "off") return undefined;
  return env ?? join(hubCacheDir(), "graphs");
}

let warned = false;

/** The graph of `bundle` with `method` (none: plain), from the cache or built (and cached). */
export async function cachedGraph(
  bundle: ModelBundle,
  method?: MergeMethod | MergeMethod[],
  options: GraphOptions = {},
): Promise<Uint8Array> {
  const dir = graphCacheDir();
  if (!dir || !bundle.fingerprint) return buildViTGraph(bundle, method, options);
  const names = method === undefined ? ["none"] : [method].flat().map((m) => m.name);
  const variant = names.join("+") + (options.sources ? "-sources" : "") +
    (options.segments ? `-segments${segmentLength(bundle.config, options)}` : "");
  const name = `${bundle.config.name}-${variant}-v${GRAPH_VERSION}-${bundle.fingerprint}.onnx`;
  const path = join(dir, name);
  try {
    return await Deno.readFile(path);
  } catch {
    // Not cached yet (or unreadable): build it.
  }
  const graph = buildViTGraph(bundle, method, options);
  try {
    await Deno.mkdir(dir, { recursive: true });
    const tmp = `${path}.${crypto.randomUUID()}.tmp`;
    await Deno.writeFile(tmp, graph);
    await Deno.rename(tmp, path);
  } catch (e) {
    if (!warned) console.error(`edgemerge: graph cache off (${(e as Error).message})`);
    warned = true;
  }
  return graph;
}
