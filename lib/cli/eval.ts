/**
 * `deno task eval --model DIR --images DIR [--methods ...] [--reductions ...] ...`
 * @module
 */
import { BACKEND_CHOICES, type BackendChoice } from "../backend/session.ts";
import { loadDataset } from "../eval/dataset.ts";
import { type EvalRow, evaluate } from "../eval/evaluate.ts";
import { paretoSvg } from "../eval/plot.ts";
import { methodByName } from "../merge/methods.ts";
import { SCHEDULE_KINDS, type ScheduleKind } from "../merge/schedule.ts";
import { Classifier } from "../classifier.ts";
import { readPriorFile } from "../kv/priors.ts";
import { defaultModelDir, loadModelBundle } from "../vit/bundle.ts";
import { numberOption, parseCommand, runMain, signOption, UsageError } from "./args.ts";

const USAGE = "usage: deno task eval --model DIR --images DIR [--methods none,tome,evit,pitome] " +
  "[--reductions 0.23,0.33,0.45] [--limit N] [--batch B] [--backend B] [--schedule KIND] " +
  "[--tau T] [--alpha A] [--prior FILE] [--out results.json] [--plot pareto.svg]";
const HELP = `
${USAGE}

Evaluates merge methods at target GMACs reductions on a folder with labels.csv (file,label),
each paired against the unmerged model on the same images.

  --model DIR        model directory (default $EDGEMERGE_MODEL, then the hub cache)
  --images DIR       image folder with labels.csv
  --methods LIST     comma-separated; default none,tome,evit,pitome
  --reductions LIST  target GMACs reductions in (0, 1); default 0.23,0.33,0.45
  --schedule KIND    constant (default), decreasing (ToMe's ramp) or delayed (see --tau)
  --tau T            blocks without merging for delayed schedules (default: sadtm-dm uses the
                     prior's suggestion, others 0)
  --alpha A          SAD-TM class-attention weight in [0, 1] (default 1; beta = 1 - alpha)
  --prior-sign S     SAD-TM: 1 merges low-outlierness patches first (the paper), -1 the
                     reverse (default -1, see docs/RESULTS.md)
  --importance-weight W
                     SAD-TM: merge weights (1 - W + W m) * size; 1 is the paper's m * size
  --prior FILE       SAD-TM prior file (default: KV/priors/ lookup by model, then by grid)
  --calibration-images N
                     adamerge: calibrate theta for each target on the first N images (default
                     64; labels are not used), then evaluate at batch 1
  --limit N          first N images only
  --batch B          images per run (default 1: latency is per image at batch 1)
  --backend B        auto, wasm or webgpu (default wasm)
  --threads N        WASM threads (default 2)
  --out FILE         write the rows as JSON
  --plot FILE        write an SVG of top-1 against GMACs
`;

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
  const { values } = parseCommand(args, {
    model: { type: "string" },
    images: { type: "string" },
    methods: { type: "string", default: "none,tome,evit,pitome" },
    reductions: { type: "string", default: "0.23,0.33,0.45" },
    schedule: { type: "string", default: "constant" },
    tau: { type: "string" },
    limit: { type: "string" },
    batch: { type: "string" },
    backend: { type: "string", default: "wasm" },
    threads: { type: "string" },
    out: { type: "string" },
    plot: { type: "string" },
    alpha: { type: "string" },
    prior: { type: "string" },
    "calibration-images": { type: "string" },
    "prior-sign": { type: "string" },
    "importance-weight": { type: "string" },
  }, HELP);
  if (!values.images) throw new UsageError("--images DIR is required");
  const methods = list(values.methods, "methods");
  methods.forEach((m) => methodByName(m));
  const reductions = list(values.reductions, "reductions").map((v) => {
    const n = numberOption(v, "reductions", 0, 0.95)!;
    return n;
  });
  const schedule = values.schedule as ScheduleKind;
  if (!SCHEDULE_KINDS.includes(schedule)) {
    throw new UsageError(`--schedule must be one of ${SCHEDULE_KINDS.join(", ")}`);
  }
  const backend = values.backend as BackendChoice;
  if (!BACKEND_CHOICES.includes(backend)) {
    throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(", ")}`);
  }
  const bundle = await loadModelBundle(values.model ?? defaultModelDir());
  const options = {
    backend,
    threads: numberOption(values.threads, "threads", 1, 64),
    methods,
    reductions,
    batch: numberOption(values.batch, "batch", 1, 256) ?? 1,
    schedule,
    tau: numberOption(values.tau, "tau", 0, bundle.config.depth - 1),
    alpha: numberOption(values.alpha, "alpha", 0, 1),
    calibrationImages: numberOption(values["calibration-images"], "calibration-images", 1),
    priorSign: signOption(values["prior-sign"], "prior-sign"),
    importanceWeight: numberOption(values["importance-weight"], "importance-weight", 0, 1),
    prior: values.prior ? await readPriorFile(values.prior) : undefined,
  };
  const decoder = await Classifier.fromBundle(bundle, options);
  const data = await loadDataset(values.images, decoder, numberOption(values.limit, "limit", 1));
  await decoder.release();
  const rows = await evaluate(bundle, data, options);
  console.log(formatTable(rows));
  if (values.out) await Deno.writeTextFile(values.out, JSON.stringify(rows, null, 2) + "\n");
  if (values.plot) {
    const title = `${bundle.config.name} on ${values.images.split("/").filter(Boolean).pop()}`;
    await Deno.writeTextFile(values.plot, await paretoSvg(rows, title));
  }
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
