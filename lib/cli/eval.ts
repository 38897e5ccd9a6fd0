/**
 * `deno task eval --model DIR --images DIR [--methods ...] [--reductions ...] ...`
 * @module
 */
import { loadDataset } from "../eval/dataset.ts";
import { type EvalRow, evaluate } from "../eval/evaluate.ts";
import { paretoSvg } from "../eval/plot.ts";
import { METHOD_NAMES } from "../merge/methods.ts";
import { SCHEDULE_KINDS, type ScheduleKind } from "../merge/schedule.ts";
import { BACKEND, METHOD_KNOBS, methodKnobs, MODEL_DIR, THREADS } from "../options/model.ts";
import { METHOD, REDUCTION, RESOLUTION } from "../options/request.ts";
import {
  argsOptions,
  argValue,
  type ChoiceOption,
  helpLines,
  type NumberOption,
  type OptionSpec,
  parseChoice,
  parseNumber,
  type StringOption,
} from "../options/spec.ts";
import { Classifier } from "../runtime/classifier.ts";
import { priorFor } from "../kv/priors.ts";
import { defaultModelDir, loadModelBundle } from "../checkpoint/bundle.ts";
import { parseCommand, runMain, UsageError } from "./args.ts";
import { progressBar } from "./progress.ts";

const IMAGES: StringOption = {
  kind: "string",
  name: "images",
  metavar: "DIR",
  description: "Image folder with labels.csv (file,label); required.",
};
const METHODS: StringOption = {
  kind: "string",
  name: "methods",
  metavar: "LIST",
  default: "none,tome,evit,pitome",
  description: `Comma-separated methods among ${METHOD_NAMES.join(", ")}.`,
};
const REDUCTIONS: StringOption = {
  kind: "string",
  name: "reductions",
  metavar: "LIST",
  default: "0.23,0.33,0.45",
  description: `Comma-separated target GMACs reductions (each ${REDUCTION.min}-${REDUCTION.max}).`,
};
const SCHEDULE_KIND: ChoiceOption<ScheduleKind> = {
  kind: "choice",
  name: "schedule_kind",
  choices: SCHEDULE_KINDS,
  default: "constant",
  description:
    "Schedule family: constant, ToMe's decreasing ramp, delayed (see --tau), alternate (every other block merges), or merges front-loaded in proportion to the blocks left (linear) or its square (quadratic).",
};
const TAU: NumberOption = {
  kind: "number",
  name: "tau",
  min: 0,
  max: 64,
  integer: true,
  description:
    "Blocks without merging for delayed, linear and quadratic schedules (default: sadtm-dm uses the " +
    "prior's suggestion, others 0).",
};
const PRIOR: StringOption = {
  kind: "string",
  name: "prior",
  metavar: "FILE",
  description: "SAD-TM prior file, any model's (default: the model's own, from priors/).",
};
const CALIBRATION_IMAGES: NumberOption = {
  kind: "number",
  name: "calibration_images",
  min: 1,
  max: 100_000,
  integer: true,
  default: 64,
  description: "Adaptive methods: calibrate theta for each target on the first N images " +
    "(labels are not used), then evaluate at batch 1.",
};
const LIMIT: NumberOption = {
  kind: "number",
  name: "limit",
  min: 1,
  max: 10_000_000,
  integer: true,
  description: "First N images only.",
};
const BATCH: NumberOption = {
  kind: "number",
  name: "batch",
  min: 1,
  max: 256,
  integer: true,
  default: 1,
  description: "Images per run (1: latency is per image).",
};
const OUT: StringOption = {
  kind: "string",
  name: "out",
  metavar: "FILE",
  description: "Write the rows as JSON.",
};
const PLOT: StringOption = {
  kind: "string",
  name: "plot",
  metavar: "FILE",
  description: "Write an SVG of top-1 against GMACs.",
};

const FLAGS: readonly OptionSpec[] = [
  MODEL_DIR,
  IMAGES,
  METHODS,
  REDUCTIONS,
  SCHEDULE_KIND,
  TAU,
  RESOLUTION,
  ...METHOD_KNOBS,
  PRIOR,
  CALIBRATION_IMAGES,
  LIMIT,
  BATCH,
  BACKEND,
  THREADS,
  OUT,
  PLOT,
];

const USAGE = "usage: deno task eval --model DIR --images DIR [--methods none,tome,evit,pitome] " +
  "[--reductions 0.23,0.33,0.45] [--out results.json] [--plot pareto.svg] ...";
const HELP = `
${USAGE}

Evaluates merge methods at target GMACs reductions on a folder with labels.csv (file,label),
each paired against the unmerged model on the same images.

${helpLines(FLAGS)}
`;

/** The comma-separated items of a list flag. */
function list(value: string, name: string): string[] {
  const items = value.split(",").map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new UsageError(`--${name} is empty`);
  return items;
}

/** The results table printed on stdout. */
export function formatTable(rows: EvalRow[], { latency = true } = {}): string {
  const base = rows.find((r) => r.method === "none");
  const header = [
    "method",
    "target",
    "reduction",
    "GMACs",
    "p5-p95",
    "+match",
    "top-1",
    "top-5",
    "agree",
    "KL",
    "p50 ms",
    "speedup",
  ];
  const lines = rows.map((r) => [
    r.method,
    r.method === "none" ? "-" : `${(100 * r.target_reduction).toFixed(0)}%`,
    `${(100 * r.reduction).toFixed(1)}%`,
    r.gmacs.toFixed(3),
    r.gmacs_p5 !== undefined && r.gmacs_p95 - r.gmacs_p5 > 1e-9
      ? `${r.gmacs_p5.toFixed(3)}-${r.gmacs_p95.toFixed(3)}`
      : "-",
    r.match_gmacs.toFixed(4),
    `${(100 * r.top1).toFixed(2)}`,
    `${(100 * r.top5).toFixed(2)}`,
    `${(100 * r.agree_top1).toFixed(2)}`,
    r.kl.toFixed(4),
    r.latency_ms_p50.toFixed(1),
    base ? `${(base.latency_ms_p50 / r.latency_ms_p50).toFixed(2)}x` : "-",
  ]);
  // Without latency: the last two columns (p50 ms, speedup) go.
  const keep = (cells: string[]) => latency ? cells : cells.slice(0, -2);
  const md = (cells: string[]) => `| ${keep(cells).join(" | ")} |`;
  return [md(header), md(header.map(() => "---")), ...lines.map(md)].join("\n");
}

async function main(args: string[]) {
  const { values } = parseCommand(args, argsOptions(FLAGS), HELP);
  const images = argValue(IMAGES, values);
  if (!images) throw new UsageError("--images DIR is required");
  const methods = list(argValue(METHODS, values)!, "methods").map((m) =>
    parseChoice(METHOD, m, "--methods")
  );
  const reductions = list(argValue(REDUCTIONS, values)!, "reductions").map((v) =>
    parseNumber(REDUCTION, v, "--reductions")
  );
  // Every flag is read before the model loads: a bad value fails at once.
  const given = {
    backend: argValue(BACKEND, values),
    threads: argValue(THREADS, values),
    methods,
    reductions,
    batch: argValue(BATCH, values)!,
    schedule: argValue(SCHEDULE_KIND, values)!,
    tau: argValue(TAU, values),
    resolution: argValue(RESOLUTION, values),
    calibrationImages: argValue(CALIBRATION_IMAGES, values),
    ...methodKnobs(values),
  };
  const limit = argValue(LIMIT, values);
  const bundle = await loadModelBundle(argValue(MODEL_DIR, values) ?? defaultModelDir());
  if (given.tau !== undefined && given.tau >= bundle.config.depth) {
    throw new UsageError(`--tau must be below the depth ${bundle.config.depth}`);
  }
  const options = {
    ...given,
    prior: await priorFor(bundle.config, argValue(PRIOR, values)),
    onProgress: progressBar(),
  };
  const decoder = await Classifier.fromBundle(bundle, options);
  const data = await loadDataset(images, decoder, limit, options.onProgress);
  await decoder.release();
  const rows = await evaluate(bundle, data, options);
  console.log(formatTable(rows));
  const out = argValue(OUT, values), plot = argValue(PLOT, values);
  if (out) await Deno.writeTextFile(out, JSON.stringify(rows, null, 2) + "\n");
  if (plot) {
    const title = `${bundle.config.name} on ${images.split("/").filter(Boolean).pop()}`;
    await Deno.writeTextFile(plot, await paretoSvg(rows, title));
  }
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
