/**
 * Model download from the Hugging Face hub (timm repositories: `config.json` and
 * `model.safetensors`) into the edgemerge cache, resumable (HTTP Range on a `.part` file, spliced
 * only where the server's `Content-Range` says it starts) and checked (byte count against the
 * server's size, sha256 against the hub's `X-Linked-Etag`/`ETag` when it is one, the safetensors
 * header is validated). Repository names are validated before any file is touched.
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { UserError } from "../errors.ts";
import { hubCacheDir } from "./bundle.ts";
import { readSafetensors } from "./safetensors.ts";

/** The hub to download from: `$EDGEMERGE_HUB_URL`, else huggingface.co. */
export function hubBaseUrl(): string {
  return Deno.env.get("EDGEMERGE_HUB_URL") ?? "https://huggingface.co";
}

/** timm's hub repository of a model name (`timm/<name>.<tag>`); a `owner/repo` passes through. */
export function timmRepo(name: string): string {
  if (name.includes("/")) return name;
  const tags: Record<string, string> = {
    deit_tiny_patch16_224: "fb_in1k",
    deit_small_patch16_224: "fb_in1k",
    deit_base_patch16_224: "fb_in1k",
    vit_tiny_patch16_224: "augreg_in21k_ft_in1k",
    vit_base_patch16_224: "augreg2_in21k_ft_in1k",
  };
  return name.includes(".") || !tags[name] ? `timm/${name}` : `timm/${name}.${tags[name]}`;
}

/** A download failed; the message names the URL and what went wrong. */
export class DownloadError extends UserError {
  override name = "DownloadError";
}

/** One part of a repository name: letters, digits, `.`, `_`, `-`, and not `.` or `..`. */
const NAME_PART = /^(?!\.{1,2}$)[A-Za-z0-9._-]+$/;

/**
 * Throws unless `repo` is `owner/name` with safe parts: it ends up in URLs and, as `name`, in
 * a cache path, so `owner/..` must not name the cache's parent.
 */
export function checkRepoName(repo: string): void {
  const parts = repo.split("/");
  if (parts.length !== 2 || !parts.every((p) => NAME_PART.test(p))) {
    throw new DownloadError(
      `invalid repository name ${JSON.stringify(repo)}: expected owner/name, each of ` +
        "letters, digits, '.', '_' or '-' (not '.' or '..')",
    );
  }
}

/** The sha256 hex digest an `X-Linked-Etag` or `ETag` value carries, if it is one. */
export function etagSha256(etag: string | null): string | undefined {
  const value = etag?.trim().replace(/^W\//, "").replace(/^"(.*)"$/, "$1").toLowerCase();
  return value && /^[0-9a-f]{64}$/.test(value) ? value : undefined;
}

/** The first byte of a `Content-Range: bytes START-END/TOTAL` header and its total. */
function contentRange(header: string | null): { start: number; total?: number } | undefined {
  const m = header?.match(/^bytes (\d+)-\d+\/(\d+|\*)$/);
  return m ? { start: Number(m[1]), total: m[2] === "*" ? undefined : Number(m[2]) } : undefined;
}

/** sha256 hex of a file, read in chunks (model files are hundreds of MB). */
async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/** Progress callback: bytes so far and total (undefined when the server does not say). */
export type OnProgress = (file: string, done: number, total: number | undefined) => void;

async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return 0;
    throw e;
  }
}

/** Downloads `url` to `dest` via `dest.part`, resuming a partial download; returns its size. */
export async function download(
  url: string,
  dest: string,
  onProgress?: OnProgress,
): Promise<number> {
  const part = `${dest}.part`;
  let have = await fileSize(part);
  let response: Response;
  try {
    response = await fetch(url, { headers: have > 0 ? { Range: `bytes=${have}-` } : {} });
  } catch (e) {
    throw new DownloadError(`${url}: ${(e as Error).message}`);
  }
  if (response.status === 416 && have > 0) {
    // The part file is already complete (or longer than the file): start over.
    await response.body?.cancel();
    await Deno.remove(part);
    return download(url, dest, onProgress);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new DownloadError(`${url}: HTTP ${response.status} ${response.statusText}`);
  }
  let total: number | undefined;
  if (response.status === 206) {
    const range = contentRange(response.headers.get("content-range"));
    if (range?.start !== have) {
      // Appending bytes from elsewhere would splice a corrupt file: start over once.
      await response.body?.cancel();
      const got = response.headers.get("content-range");
      if (have === 0) throw new DownloadError(`${url}: HTTP 206 with Content-Range ${got}`);
      console.error(`${url}: asked for bytes ${have}-, got Content-Range ${got}; restarting`);
      await Deno.remove(part);
      return download(url, dest, onProgress);
    }
    total = range.total;
  } else {
    have = 0; // the server ignored the range: the whole file comes again
    total = Number(response.headers.get("content-length")) || undefined;
  }
  const file = await Deno.open(part, {
    write: true,
    create: true,
    append: have > 0,
    truncate: have === 0,
  });
  let done = have;
  try {
    for await (const chunk of response.body!) {
      await file.write(chunk);
      done += chunk.byteLength;
      onProgress?.(dest, done, total);
    }
  } catch (e) {
    throw new DownloadError(
      `${url}: connection lost after ${done} bytes (run again to resume): ${(e as Error).message}`,
    );
  } finally {
    file.close();
  }
  if (total !== undefined && done !== total) {
    throw new DownloadError(`${url}: got ${done} of ${total} bytes (run again to resume)`);
  }
  const expected = etagSha256(
    response.headers.get("x-linked-etag") ?? response.headers.get("etag"),
  );
  if (expected) {
    const got = await sha256File(part);
    if (got !== expected) {
      await Deno.remove(part);
      throw new DownloadError(
        `${url}: sha256 ${got} differs from the hub's ${expected}; the download was removed`,
      );
    }
  }
  await Deno.rename(part, dest);
  return done;
}

/** Options for `pullModel`. */
export interface PullOptions {
  baseUrl?: string;
  cacheDir?: string;
  /** Directory name in the cache (default: the model name); letters, digits, `.`, `_`, `-`. */
  as?: string;
  onProgress?: OnProgress;
}

/** Fetches `config.json` and `model.safetensors` of `name` into the cache; returns the directory. */
export async function pullModel(name: string, options: PullOptions = {}): Promise<string> {
  const base = (options.baseUrl ?? hubBaseUrl()).replace(/\/$/, "");
  const repo = timmRepo(name);
  checkRepoName(repo);
  const folder = options.as ?? name.replace(/.*\//, "");
  if (!NAME_PART.test(folder)) {
    throw new DownloadError(`invalid cache folder name ${JSON.stringify(folder)}`);
  }
  // One checked path segment: the folder removed on failure is the model's own, never above it.
  const dir = join(options.cacheDir ?? hubCacheDir(), folder);
  await Deno.mkdir(dir, { recursive: true });
  for (const file of ["config.json", "model.safetensors"]) {
    const dest = join(dir, file);
    if (await fileSize(dest) > 0) continue;
    await download(`${base}/${repo}/resolve/main/${file}`, dest, options.onProgress);
  }
  try {
    JSON.parse(await Deno.readTextFile(join(dir, "config.json")));
    readSafetensors(
      await Deno.readFile(join(dir, "model.safetensors")),
      join(dir, "model.safetensors"),
    );
  } catch (e) {
    // A corrupt download must not poison the cache: remove it so the next pull starts clean.
    await Deno.remove(dir, { recursive: true });
    throw new DownloadError(`${repo}: downloaded files are not usable (${(e as Error).message})`);
  }
  return dir;
}
