/**
 * `deno task points --model NAME --out FILE RESULTS.json...`: the operating-points table the
 * budget logic chooses from, built from `deno task eval --out` results.
 * @module
 */
import { join } from "node:path";
import { checkPoints } from "../budget/points.ts";
import { pointsFromEval } from "../eval/points.ts";
import { POINTS_DIR } from "../kv/points.ts";
import type { EvalRow } from "../eval/evaluate.ts";
import { parseCommand, runMain, UsageError } from "./args.ts";

const USAGE =
  "usage: deno task points --model NAME [--base TABLE] [--out FILE] [METHODS=]RESULTS.json...";
const HELP = `
${USAGE}

Builds the operating-points table of a model (method, schedule, theta, GMACs and measured
top-1 per point) from eval results. Rows of the same point from several image sets are pooled,
weighted by image count. The service seeds Deno KV with the tables in priors/points/.
A file given as METHODS=FILE (comma-separated methods) contributes only those methods' rows, so
that rows run with other settings of the same method are not pooled.

  --model NAME   model name as in its config (e.g. deit_tiny_patch16_224)
  --base TABLE   start from this points table (its top-1 and image counts), e.g. to add the
                 points of another schedule family to priors/points/<NAME>.json
  --out FILE     default priors/points/<NAME>.json
`;

async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(file));
  } catch (e) {
    throw new UsageError(`${file}: ${(e as Error).message}`);
  }
}

async function main(args: string[]) {
  const { values, positionals } = parseCommand(
    args,
    {
      model: { type: "string" },
      base: { type: "string" },
      out: { type: "string" },
    },
    HELP,
    true,
  );
  if (!values.model) throw new UsageError("--model NAME is required");
  if (positionals.length === 0) throw new UsageError("give at least one eval results file");
  const rows: EvalRow[] = [];
  for (const arg of positionals) {
    const cut = arg.indexOf("=");
    const only = cut > 0 ? arg.slice(0, cut).split(",") : undefined;
    const file = cut > 0 ? arg.slice(cut + 1) : arg;
    const loaded = await readJson(file);
    if (!Array.isArray(loaded)) throw new UsageError(`${file}: not a list of eval rows`);
    rows.push(...(loaded as EvalRow[]).filter((r) => !only || only.includes(r.method)));
  }
  const base = values.base ? checkPoints(await readJson(values.base), values.base) : undefined;
  if (base && base.model !== values.model) {
    throw new UsageError(`${values.base} holds ${base.model}'s points, not ${values.model}'s`);
  }
  const table = pointsFromEval(values.model, rows, base?.points);
  const out = values.out ?? join(POINTS_DIR, `${values.model}.json`);
  await Deno.writeTextFile(out, JSON.stringify(table, null, 1) + "\n");
  console.log(`${table.points.length} operating points (${table.source}) -> ${out}`);
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
