/**
 * Saliency priors in Deno KV (`["prior", "model", name]`) and in `priors/*.json`, and the lookup
 * SAD-TM uses. A prior belongs to one model (its timm architecture name, `config.name`): the
 * lookup is by that name only, so a model without its own prior gets none, never another model's
 * of the same grid (SAD-TM is then unavailable for it). Using another model's prior is explicit:
 * pass it (`priorFor`'s `path`, `eval --prior FILE`, `pipeline({ prior })`).
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PriorError } from "../merge/step.ts";
import { checkPrior, type SaliencyPrior } from "../saliency/prior.ts";
import type { ViTConfig } from "../checkpoint/config.ts";

/** The priors shipped with edgemerge. */
export const SHIPPED_PRIORS = fileURLToPath(new URL("../../priors", import.meta.url));

/** Where priors live in KV; a model's is under its name. */
const PRIOR_PREFIX = ["prior", "model"] as const;

/** The KV key of `model`'s prior. */
export function priorKey(model: string): Deno.KvKey {
  return [...PRIOR_PREFIX, model];
}

/** The models with a prior in KV. */
export async function priorModelsInKv(kv: Deno.Kv): Promise<string[]> {
  const models: string[] = [];
  for await (const e of kv.list({ prefix: [...PRIOR_PREFIX] })) {
    models.push(String(e.key[PRIOR_PREFIX.length]));
  }
  return models;
}

/** Stores a prior under its model. */
export async function savePriorToKv(kv: Deno.Kv, prior: SaliencyPrior): Promise<void> {
  const result = await kv.atomic().set(priorKey(prior.model), prior).commit();
  if (!result.ok) throw new Error(`KV: storing the prior of ${prior.model} failed`);
}

/** The prior of `model` from KV; undefined if it has none. */
export async function priorFromKv(
  kv: Deno.Kv,
  model: string,
): Promise<SaliencyPrior | undefined> {
  const own = await kv.get<SaliencyPrior>(priorKey(model));
  return own.value ? checkPrior(own.value, `KV prior ${model}`) : undefined;
}

/**
 * Why `model` has no prior and what to do, given the models that have one: SAD-TM methods are
 * unavailable for it until its own prior is computed.
 */
export function missingPriorMessage(model: string, withPriors: string[]): string {
  return `no saliency prior for ${model} (priors exist for: ${
    withPriors.join(", ") || "no model"
  }; another model's prior is never used implicitly), so SAD-TM methods are unavailable for ` +
    `it; compute its own with "deno task priors --model DIR --images DIR"`;
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

/** No prior of the model asked for (the message lists the models that have one). */
export class MissingPriorError extends PriorError {
  override name = "MissingPriorError";
}

/** Where to look for priors. */
export interface PriorSources {
  kv?: Deno.Kv;
  /** Default: the shipped `priors/`. */
  dir?: string;
}

/**
 * The prior of `model`: KV first, then the files. Throws `MissingPriorError`
 * (`missingPriorMessage`) when neither holds one for that model.
 */
export async function findPrior(model: string, sources: PriorSources = {}): Promise<SaliencyPrior> {
  const fromKv = sources.kv && await priorFromKv(sources.kv, model);
  if (fromKv) return fromKv;
  const files = await priorsInDir(sources.dir ?? SHIPPED_PRIORS);
  const found = files.find((p) => p.model === model);
  if (!found) throw new MissingPriorError(missingPriorMessage(model, files.map((p) => p.model)));
  return found;
}

/**
 * The prior to load `config` with: the file `path` when given (any model's: the caller's
 * explicit choice), else the model's own through `findPrior` over `sources`; undefined when it
 * has none (a method that needs one then says so when it starts).
 */
export async function priorFor(
  config: ViTConfig,
  path?: string,
  sources: PriorSources = {},
): Promise<SaliencyPrior | undefined> {
  if (path) return await readPriorFile(path);
  try {
    return await findPrior(config.name, sources);
  } catch (e) {
    // Only a missing prior: a malformed file must be told, not taken for an absent one.
    if (e instanceof MissingPriorError) return undefined;
    throw e;
  }
}
