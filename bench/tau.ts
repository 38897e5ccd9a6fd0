/**
 * `deno run -A bench/tau.ts [--plot FILE] PRIOR.json`: the class-attention MSE between adjacent
 * blocks (raw and scale-free) stored in a prior, as a table, and as an SVG curve.
 * @module
 */
import { parseCommand, runMain, UsageError } from "../lib/cli/args.ts";
import { curveSvg } from "../lib/eval/plot.ts";
import { readPriorFile } from "../lib/kv/priors.ts";
import { table } from "./report.ts";

const USAGE = "usage: deno run -A bench/tau.ts [--plot FILE] PRIOR.json";

async function main(args: string[]) {
  const { values, positionals } = parseCommand(args, { plot: { type: "string" } }, USAGE, true);
  if (positionals.length !== 1) throw new UsageError("give one PRIOR.json");
  const prior = await readPriorFile(positionals[0]);
  const raw = prior.classAttentionMse, rel = prior.classAttentionRelativeMse;
  console.log(table(
    ["blocks", "MSE", "relative MSE"],
    raw.map((v, l) => [`${l}-${l + 1}`, v.toExponential(2), rel[l].toFixed(3)]),
  ));
  console.log(`\nsuggested tau: ${prior.suggestedTau} (${prior.images} images)`);
  if (values.plot) {
    const norm = (v: number[]) => v.map((x) => x / Math.max(...v));
    await Deno.writeTextFile(
      values.plot,
      await curveSvg(
        [{ name: "MSE / max", values: norm(raw) }, {
          name: "relative MSE / max",
          values: norm(rel),
        }],
        `${prior.model}: class attention change between adjacent blocks`,
        "normalised to the maximum (log)",
      ),
    );
  }
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
