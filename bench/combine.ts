/**
 * `deno run -A bench/combine.ts [--plot FILE] [--title T] ROWS.json...`: merges `eval --out`
 * files into one markdown table (one `none` row) and optionally one Pareto plot.
 * @module
 */
import { parseCommand, runMain, UsageError } from "../lib/cli/args.ts";
import { formatTable } from "../lib/cli/eval.ts";
import type { EvalRow } from "../lib/eval/evaluate.ts";
import { paretoSvg } from "../lib/eval/plot.ts";

const USAGE =
  "usage: deno run -A bench/combine.ts [--plot FILE] [--title T] [--label NAME=FILE] ROWS.json...";

async function main(args: string[]) {
  const { values, positionals } = parseCommand(
    args,
    {
      plot: { type: "string" },
      title: { type: "string", default: "" },
      "no-latency": { type: "boolean" },
      methods: { type: "string" },
    },
    `${USAGE}\n\nA file given as NAME=FILE renames its methods to NAME, where {m} stands for the method
(for ablations).`,
    true,
  );
  if (positionals.length === 0) throw new UsageError("no ROWS.json given");
  const rows: EvalRow[] = [];
  for (const arg of positionals) {
    const cut = arg.lastIndexOf("=");
    const [label, file] = cut >= 0 ? [arg.slice(0, cut), arg.slice(cut + 1)] : [undefined, arg];
    let loaded: EvalRow[];
    try {
      loaded = JSON.parse(await Deno.readTextFile(file));
    } catch (e) {
      throw new UsageError(`${file}: ${(e as Error).message}`);
    }
    for (const row of loaded) {
      if (row.method === "none") {
        if (!rows.some((r) => r.method === "none")) rows.push(row);
        continue;
      }
      rows.push(label ? { ...row, method: label.replace("{m}", row.method) } : row);
    }
  }
  const only = values.methods?.split(",");
  const shown = only ? rows.filter((r) => r.method === "none" || only.includes(r.method)) : rows;
  console.log(formatTable(shown, { latency: !values["no-latency"] }));
  if (values.plot) await Deno.writeTextFile(values.plot, await paretoSvg(shown, values.title));
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
