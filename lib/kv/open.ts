/**
 * Opening the Deno KV store: `$EDGEMERGE_KV` (a path, `:memory:`, or a remote KV URL), else a
 * file in the edgemerge cache directory.
 * @module
 */
import { join } from "node:path";
import { hubCacheDir } from "../checkpoint/bundle.ts";
import { UserError } from "../errors.ts";

/** A KV location edgemerge refuses to open (the message says why). */
export class KvUrlError extends UserError {
  override name = "KvUrlError";
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** The KV location used when none is given. */
export function defaultKvPath(): string {
  return Deno.env.get("EDGEMERGE_KV") ?? join(hubCacheDir(), "kv.sqlite3");
}

/**
 * Checks a KV location before the access token is sent to it. An `http://` URL with a token
 * (`DENO_KV_ACCESS_TOKEN`) would send the token in clear text: refused with `KvUrlError`, except
 * to localhost, 127.0.0.1 or [::1] (a local KV server never leaves the machine), where a warning
 * is returned for the log. Paths, `:memory:`, `https://` and tokenless URLs pass silently.
 */
export function checkKvUrl(path: string, hasToken: boolean): string | undefined {
  if (!hasToken || !/^http:\/\//i.test(path)) return undefined;
  const host = new URL(path).hostname;
  if (!LOOPBACK.has(host)) {
    throw new KvUrlError(
      `refusing to send DENO_KV_ACCESS_TOKEN over plain http to ${host}: use an https:// KV URL`,
    );
  }
  return `KV at ${path} is plain http: the access token is sent unencrypted (local only)`;
}

/** Opens KV at `path` (creating the parent folder of a file path); see `checkKvUrl`. */
export async function openKv(path = defaultKvPath()): Promise<Deno.Kv> {
  const warning = checkKvUrl(path, Boolean(Deno.env.get("DENO_KV_ACCESS_TOKEN")));
  if (warning) console.error(`edgemerge: ${warning}`);
  if (path !== ":memory:" && !/^https?:\/\//.test(path)) {
    await Deno.mkdir(join(path, ".."), { recursive: true });
  }
  return await Deno.openKv(path);
}
