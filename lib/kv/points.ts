/**
 * Operating-points tables in Deno KV (`["points", model]`) and in `priors/points/*.json`.
 * @module
 */
import { join } from "node:path";
import { checkPoints, PointsError, type PointsTable } from "../budget/points.ts";
import { SHIPPED_PRIORS } from "./priors.ts";

/** The shipped tables. */
export const POINTS_DIR: string = join(SHIPPED_PRIORS, "points");

/** The KV key of `model`'s table. */
export function pointsKey(model: string): Deno.KvKey {
  return ["points", model];
}

/** Stores a table under its model. */
export async function savePointsToKv(kv: Deno.Kv, table: PointsTable): Promise<void> {
  await kv.set(pointsKey(table.model), table);
}

/** The table of `model` in KV, if any. */
export async function pointsFromKv(kv: Deno.Kv, model: string): Promise<PointsTable | undefined> {
  const entry = await kv.get<PointsTable>(pointsKey(model));
  return entry.value ? checkPoints(entry.value, `KV points ${model}`) : undefined;
}

/** Every table in `dir` (a malformed file is an error). */
export async function pointsInDir(dir = POINTS_DIR): Promise<PointsTable[]> {
  const out: PointsTable[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || !entry.name.endsWith(".json")) continue;
      const path = join(dir, entry.name);
      let value: unknown;
      try {
        value = JSON.parse(await Deno.readTextFile(path));
      } catch {
        throw new PointsError(`${path}: not valid JSON`);
      }
      out.push(checkPoints(value, path));
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}
