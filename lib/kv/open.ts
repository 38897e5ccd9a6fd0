/**
 * Opening the Deno KV store: `$EDGEMERGE_KV` (a path, `:memory:`, or a remote KV URL), else a
 * file in the edgemerge cache directory.
 * @module
 */
import { join } from "node:path";
import { hubCacheDir } from "../checkpoint/bundle.ts";

/** The KV location used when none is given. */
export function defaultKvPath(): string {
  return Deno.env.get("EDGEMERGE_KV") ?? join(hubCacheDir(), "kv.sqlite3");
}

/** Opens KV at `path` (creating the parent folder of a file path). */
export async function openKv(path = defaultKvPath()): Promise<Deno.Kv> {
  if (path !== ":memory:" && !/^https?:\/\//.test(path)) {
    await Deno.mkdir(join(path, ".."), { recursive: true });
  }
  return await Deno.openKv(path);
}
