/**
 * A model bundle: a directory in timm's hub layout (`config.json` + `model.safetensors`) read
 * into a config, preprocessing settings, labels and float32 weights.
 * @module
 */
import { UserError } from "../errors.ts";
import { join } from "node:path";
import type { PreprocessConfig } from "../image/preprocess.ts";
import { ConfigError, configFromTimm, type ViTConfig } from "./config.ts";
import { readSafetensors, type Tensor } from "./safetensors.ts";

/** Everything needed to build and run one model. */
export interface ModelBundle {
  dir: string;
  config: ViTConfig;
  preprocess: PreprocessConfig;
  /** Class ids (e.g. WordNet ids), one per class. */
  labels: string[];
  /** Human-readable class names, one per class. */
  descriptions: string[];
  weights: Map<string, Tensor>;
  /** Identifies the weights file (see `fingerprint`); absent for in-memory weights. */
  fingerprint?: string;
}

/** A model directory is missing or incomplete; the message names the path. */
export class ModelNotFoundError extends UserError {
  override name = "ModelNotFoundError";
}

async function readFileOrFail(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new ModelNotFoundError(`${path} not found`);
    throw e;
  }
}

function stringList(json: Record<string, unknown>, key: string, n: number): string[] | undefined {
  const v = json[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length !== n || !v.every((s) => typeof s === "string")) {
    throw new ConfigError(`config.json: ${key} must list ${n} strings`);
  }
  return v;
}

/** timm writes `label_descriptions` as `{label_name: text}`; a plain list is accepted too. */
function describe(value: unknown, labels: string[]): string[] {
  if (value === undefined) return labels;
  if (Array.isArray(value) && value.length === labels.length) return value.map(String);
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const map = value as Record<string, unknown>;
    return labels.map((l) => typeof map[l] === "string" ? map[l] as string : l);
  }
  throw new ConfigError(`config.json: label_descriptions must map each label to a string`);
}

/** Reads the config only (cheap): for listing models without loading weights. */
export async function loadModelConfig(dir: string) {
  const path = join(dir, "config.json");
  const text = new TextDecoder().decode(await readFileOrFail(path));
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const { vit, preprocess } = configFromTimm(json);
  const n = vit.numClasses;
  const labels = stringList(json, "label_names", n) ?? Array.from({ length: n }, (_, i) => `${i}`);
  const descriptions = describe(json.label_descriptions, labels);
  return { config: vit, preprocess, labels, descriptions };
}

/** Size and FNV-1a hash of the weights file bytes: cheap, and changes with any weight (the
 * graph cache keys on it). */
export function fingerprint(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2);
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i], 0x01000193);
  for (let i = words.length << 2; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return `${bytes.length.toString(36)}${(h >>> 0).toString(36)}`;
}

/** Loads a model directory; throws `ModelNotFoundError`, `ConfigError` or `SafetensorsError`. */
export async function loadModelBundle(dir: string): Promise<ModelBundle> {
  const meta = await loadModelConfig(dir);
  const file = join(dir, "model.safetensors");
  const bytes = await readFileOrFail(file);
  return { dir, ...meta, weights: readSafetensors(bytes, file), fingerprint: fingerprint(bytes) };
}

/**
 * Where a model comes from when none is named: `$EDGEMERGE_MODEL`, else the hub cache entry for
 * `deit_tiny_patch16_224` (filled by `deno task pull`).
 */
export function defaultModelDir(): string {
  const fromEnv = Deno.env.get("EDGEMERGE_MODEL");
  if (fromEnv) return fromEnv;
  return join(hubCacheDir(), "deit_tiny_patch16_224");
}

/** The hub cache: `$EDGEMERGE_CACHE`, else `$XDG_CACHE_HOME/edgemerge`, else `~/.cache/edgemerge`. */
export function hubCacheDir(): string {
  const env = Deno.env.get("EDGEMERGE_CACHE");
  if (env) return env;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const home = Deno.env.get("HOME") ?? ".";
  return join(xdg ?? join(home, ".cache"), "edgemerge");
}
