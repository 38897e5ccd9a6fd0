/**
 * What the service reads at start: the saliency prior and the operating points of its model.
 * Deno KV is the source; each start seeds it from the shipped `priors/` (`seedKv`: a newer shipped
 * file replaces its earlier copy, entries written in KV since win, so `deno task priors` results
 * are kept). When KV cannot be opened or read, the
 * service falls back to the `priors/` files and says so in `/v1/models`. A model without its own
 * prior gets none (SAD-TM is unavailable for it), and the start log says so.
 * @module
 */
import { sha256Hex } from "../hash.ts";
import { defaultPoints, type PointsTable } from "../budget/points.ts";
import type { SaliencyPrior } from "../saliency/prior.ts";
import type { ViTConfig } from "../checkpoint/config.ts";
import { openKv } from "./open.ts";
import { pointsFromKv, pointsInDir, pointsKey } from "./points.ts";
import { missingPriorMessage, priorFor, priorKey, priorModelsInKv, priorsInDir } from "./priors.ts";

/** The model's serving data and where it came from. */
export interface ServiceData {
  /** Undefined when the model has no prior of its own (SAD-TM methods then fail clearly). */
  prior?: SaliencyPrior;
  table: PointsTable;
  /** Models with a prior. */
  priors: string[];
  /** "kv <path>", or the fallback taken. */
  source: string;
}

/**
 * Copies shipped priors and tables into KV. Each copy is recorded (`["seeded", ...key]`: a hash of
 * what was copied), so a newer shipped file replaces the copy it came from, while an entry written
 * since (`deno task priors`, an operator) is kept. An unrecorded prior is kept (the priors command
 * writes KV); an unrecorded table is an older seed (nothing of ours writes tables to KV) and is
 * replaced.
 */
export async function seedKv(kv: Deno.Kv, priorsDir?: string, pointsDir?: string) {
  for (const prior of await priorsInDir(priorsDir)) {
    await seedEntry(kv, priorKey(prior.model), prior, "keep");
  }
  for (const table of await pointsInDir(pointsDir)) {
    await seedEntry(kv, pointsKey(table.model), table, "replace");
  }
}

async function seedEntry(
  kv: Deno.Kv,
  key: Deno.KvKey,
  shipped: unknown,
  unrecorded: "keep" | "replace",
): Promise<void> {
  const marker = ["seeded", ...key];
  const [present, seeded] = await kv.getMany<[unknown, string]>([key, marker]);
  const shippedHash = contentHash(shipped);
  let op = kv.atomic().check(present, seeded);
  if (present.value !== null) {
    const presentHash = contentHash(present.value);
    const ours = presentHash === shippedHash ||
      (seeded.value === null ? unrecorded === "replace" : seeded.value === presentHash);
    if (!ours || seeded.value === shippedHash) return;
    if (presentHash !== shippedHash) op = op.set(key, shipped);
  } else op = op.set(key, shipped);
  // A concurrent start that seeded first wins; both copied the same shipped file.
  await op.set(marker, shippedHash).commit();
}

const contentHash = (value: unknown): string => sha256Hex(JSON.stringify(value));

async function fromFiles(config: ViTConfig, why: string): Promise<ServiceData> {
  const priors = await priorsInDir();
  const prior = await priorFor(config);
  const table = (await pointsInDir()).find((t) => t.model === config.name) ??
    defaultPoints(config);
  return { prior, table, priors: priors.map((p) => p.model), source: why };
}

/**
 * Opens KV at `kvPath`, seeds it, and reads the model's data (falling back to files); logs when
 * the model has no prior of its own.
 */
export async function loadServiceData(config: ViTConfig, kvPath?: string): Promise<ServiceData> {
  const data = await readServiceData(config, kvPath);
  if (!data.prior) console.error(`edgemerge: ${missingPriorMessage(config.name, data.priors)}`);
  return data;
}

/**
 * What to show of a KV location: a URL's scheme and host (never its credentials or query), and
 * of a file only that it is one.
 */
export function kvLabel(kvPath?: string): string {
  if (kvPath === undefined) return "default";
  if (kvPath === ":memory:") return kvPath;
  try {
    const url = new URL(kvPath);
    if (url.protocol === "http:" || url.protocol === "https:") {
      return `${url.protocol}//${url.host}`;
    }
  } catch { /* not a URL: a file */ }
  return "file";
}

async function readServiceData(config: ViTConfig, kvPath?: string): Promise<ServiceData> {
  let kv: Deno.Kv | undefined;
  try {
    kv = await openKv(kvPath);
    await seedKv(kv);
    const prior = await priorFor(config, undefined, { kv });
    const table = await pointsFromKv(kv, config.name) ?? defaultPoints(config);
    const priors = await priorModelsInKv(kv);
    return { prior, table, priors, source: `kv ${kvLabel(kvPath)}` };
  } catch (e) {
    // The detail (paths, hosts) goes to the log; what `/v1/models` shows names no path.
    console.error(`edgemerge: KV unavailable, reading priors/: ${(e as Error).message}`);
    return await fromFiles(config, `files (KV unavailable: ${(e as Error).name})`);
  } finally {
    kv?.close();
  }
}
