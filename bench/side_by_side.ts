/**
 * `deno run -A bench/side_by_side.ts NAME=ROWS.json[,ROWS.json...] ...`: one markdown table with
 * the same methods and targets of several models (or settings) side by side: per column group the
 * top-1, its change against the group's unmerged row, agreement and KL. Rows are matched by method
 * and target; a cell is `-` where a group has no such row. A group of several files takes each
 * row from the last file that has it (e.g. one method re-run with the model's own settings).
 * @module
 */
import { parseCommand, runMain, UsageError } from "../lib/cli/args.ts";
import type { EvalRow } from "../lib/eval/evaluate.ts";
import { table } from "./report.ts";

const USAGE =
  "usage: deno run -A bench/side_by_side.ts NAME=ROWS.json[,ROWS.json...] NAME=ROWS.json...";

/** A column group: a name and its eval rows. */
interface Group {
  name: string;
  rows: EvalRow[];
}

const key = (r: EvalRow) => `${r.method}@${r.method === "none" ? 0 : r.target_reduction}`;

/** The side-by-side markdown table of `groups` (row order: the first group's, then the rest). */
export function sideBySide(groups: Group[]): string {
  const order: EvalRow[] = [];
  for (const g of groups) {
    for (const r of g.rows) if (!order.some((o) => key(o) === key(r))) order.push(r);
  }
  const header = ["method", "target"];
  for (const g of groups) header.push(`${g.name} top-1`, "Δ", "agree", "KL");
  const rows = order.map((o) => {
    const cells: (string | number)[] = [
      o.method,
      o.method === "none" ? "-" : pct(o.target_reduction),
    ];
    for (const g of groups) {
      const r = g.rows.find((x) => key(x) === key(o));
      const base = g.rows.find((x) => x.method === "none");
      if (!r) cells.push("-", "-", "-", "-");
      else {
        const delta = base ? signed(100 * (r.top1 - base.top1)) : "-";
        cells.push(points(r.top1), delta, points(r.agree_top1), r.kl.toFixed(4));
      }
    }
    return cells;
  });
  return table(header, rows);
}

const pct = (x: number) => `${Math.round(x * 100)}%`;
const points = (x: number) => (100 * x).toFixed(2);
const signed = (x: number) => Math.abs(x) < 0.005 ? "0.00" : `${x > 0 ? "+" : ""}${x.toFixed(2)}`;

async function main(args: string[]) {
  const { positionals } = parseCommand(
    args,
    {},
    `${USAGE}

Each argument is NAME=FILE[,FILE...] (eval --out files); the table has one column group per
argument, and a row of a later file of a group replaces the same method and target before it.`,
    true,
  );
  if (positionals.length === 0) throw new UsageError("no NAME=ROWS.json given");
  const groups: Group[] = [];
  for (const arg of positionals) {
    const cut = arg.indexOf("=");
    if (cut <= 0) throw new UsageError(`${arg}: expected NAME=FILE`);
    const rows: EvalRow[] = [];
    for (const file of arg.slice(cut + 1).split(",")) {
      let loaded: EvalRow[];
      try {
        loaded = JSON.parse(await Deno.readTextFile(file));
      } catch (e) {
        throw new UsageError(`${file}: ${(e as Error).message}`);
      }
      for (const r of loaded) {
        const at = rows.findIndex((x) => key(x) === key(r));
        if (at >= 0) rows[at] = r;
        else rows.push(r);
      }
    }
    groups.push({ name: arg.slice(0, cut), rows });
  }
  console.log(sideBySide(groups));
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
