/**
 * Saliency priors in Deno KV (`["prior", "model", name]` and `["prior", "grid", "RxC", name]`)
 * and in `priors/*.json`, and the lookup SAD-TM uses: by model first, then any prior of the
 * same patch grid (cross-model use).
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PriorError } from "../merge/step.ts";
import { checkPrior, type SaliencyPrior } from "../saliency/prior.ts";
import { patchGrid, type ViTConfig } from "../checkpoint/config.ts";

/** The priors shipped with edgemerge. */
export const SHIPPED_PRIORS = fileURLToPath(new URL("../../priors", import.meta.url));

const gridKey = (grid: [number, number]) => `${grid[0]}x${grid[1]}`;

/** Stores a prior under its model and its grid. */
export async function savePriorToKv(kv: Deno.Kv, prior: SaliencyPrior): Promise<void> {
  const result = await kv.atomic()
    .set(["prior", "model", prior.model], prior)
    .set(["prior", "grid", gridKey(prior.grid), prior.model], prior)
    .commit();
  if (!result.ok) throw new Error(`KV: storing the prior of ${prior.model} failed`);
}

/** The prior of `model`, else any prior with the same grid, from KV; undefined if none. */
export async function priorFromKv(
  kv: Deno.Kv,
  model: string,
  grid: [number, number],
): Promise<SaliencyPrior | undefined> {
  const own = await kv.get<SaliencyPrior>(["prior", "model", model]);
  if (own.value) return checkPrior(own.value, `KV prior ${model}`);
  for await (const entry of kv.list<SaliencyPrior>({ prefix: ["prior", "grid", gridKey(grid)] })) {
    return checkPrior(entry.value, `KV prior ${entry.key.join("/")}`);
  }
  return undefined;
}

/** Reads and validates a prior file. */
export async function readPriorFile(path: string): Promise<SaliencyPrior> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new PriorError(`${path} not found`);
    throw e;
  }
  try {
    return checkPrior(JSON.parse(text), path);
  } catch (e) {
    if (e instanceof PriorError) throw e;
    throw new PriorError(`${path}: not valid JSON`);
  }
}

/** Every prior file in `dir` (ignoring unreadable ones is not allowed: they are errors). */
export async function priorsInDir(dir = SHIPPED_PRIORS): Promise<SaliencyPrior[]> {
  const out: SaliencyPrior[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.endsWith(".json")) {
        out.push(await readPriorFile(join(dir, entry.name)));
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort((a, b) => a.model.localeCompare(b.model));
}

/** Where to look for priors. */
export interface PriorSources {
  kv?: Deno.Kv;
  /** Default: the shipped `priors/`. */
  dir?: string;
}

/**
 * The prior for `model`: KV then files, own model first, then any of the same grid. Throws
 * `PriorError` naming the model and grid when there is none (SAD-TM has no silent fallback).
 */
export async function findPrior(
  model: string,
  grid: [number, number],
  sources: PriorSources = {},
): Promise<SaliencyPrior> {
  const fromKv = sources.kv && await priorFromKv(sources.kv, model, grid);
  if (fromKv?.model === model) return fromKv;
  const files = await priorsInDir(sources.dir ?? SHIPPED_PRIORS);
  const sameGrid = (p: SaliencyPrior) => gridKey(p.grid) === gridKey(grid);
  const found = files.find((p) => p.model === model) ?? fromKv ?? files.find(sameGrid);
  if (!found) {
    throw new PriorError(
      `no saliency prior for ${model} (grid ${gridKey(grid)}); compute one with ` +
        `"deno task priors --model DIR --images DIR"`,
    );
  }
  return found;
}

/**
 * The prior to load `config` with: the file `path` when given, else `findPrior` over `sources`;
 * undefined when there is none (a method that needs one then says so when it starts).
 */
export async function priorFor(
  config: ViTConfig,
  path?: string,
  sources: PriorSources = {},
): Promise<SaliencyPrior | undefined> {
  if (path) return await readPriorFile(path);
  try {
    return await findPrior(config.name, patchGrid(config), sources);
  } catch (e) {
    if (e instanceof PriorError) return undefined;
    throw e;
  }
}
