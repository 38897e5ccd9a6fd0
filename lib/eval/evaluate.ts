/**
 * The evaluation loop: every method x target reduction on one image set, each paired against
 * the unmerged run on the same images (accuracy, agreement, KL, GMACs, latency).
 * @module
 */
import type { SessionOptions } from "../backend/session.ts";
import { Classifier } from "../classifier.ts";
import { Progress } from "../cli/args.ts";
import { methodByName } from "../merge/methods.ts";
import { matchGmacs, type ScheduleKind } from "../merge/schedule.ts";
import type { MethodOptions } from "../merge/step.ts";
import type { ModelBundle } from "../vit/bundle.ts";
import type { Dataset } from "./dataset.ts";
import { pairedMetrics } from "./metrics.ts";

/** One row of results (the `--out` JSON format). */
export interface EvalRow {
  method: string;
  target_reduction: number;
  schedule: number[];
  gmacs: number;
  match_gmacs: number;
  reduction: number;
  top1: number;
  top5: number;
  agree_top1: number;
  kl: number;
  latency_ms_p50: number;
  n: number;
}

/** What to evaluate. */
export interface EvalOptions extends SessionOptions, MethodOptions {
  methods: string[];
  reductions: number[];
  batch: number;
  schedule: ScheduleKind;
  /** Blocks without merging for delayed schedules (default: the method's suggestion, else 0). */
  tau?: number;
}

interface RunResult {
  logits: Float32Array[];
  gmacs: number;
  latencyP50: number;
}

async function runSet(c: Classifier, data: Dataset, r: number[], batch: number, label: string) {
  const progress = new Progress(Math.ceil(data.inputs.length / batch), label);
  const logits: Float32Array[] = [], perImage: number[] = [];
  let gmacs = 0;
  for (let i = 0; i < data.inputs.length; i += batch) {
    const chunk = data.inputs.slice(i, i + batch);
    const t0 = performance.now();
    const outs = await c.run(chunk, r);
    perImage.push((performance.now() - t0) / chunk.length);
    outs.forEach((o) => logits.push(o.logits));
    gmacs = outs[0].gmacs;
    progress.tick();
  }
  perImage.sort((a, b) => a - b);
  return { logits, gmacs, latencyP50: perImage[Math.floor(perImage.length / 2)] } as RunResult;
}

function row(
  method: string,
  target: number,
  schedule: number[],
  run: RunResult,
  base: RunResult,
  data: Dataset,
  matchCost: number,
): EvalRow {
  const m = pairedMetrics(run.logits, base.logits, data.labels);
  return {
    method,
    target_reduction: target,
    schedule,
    gmacs: run.gmacs,
    match_gmacs: matchCost,
    reduction: 1 - run.gmacs / base.gmacs,
    top1: m.top1,
    top5: m.top5,
    agree_top1: m.agreeTop1,
    kl: m.kl,
    latency_ms_p50: run.latencyP50,
    n: m.n,
  };
}

/** Evaluates the unmerged model and every method x reduction; the first row is `none`. */
export async function evaluate(bundle: ModelBundle, data: Dataset, options: EvalOptions) {
  const { depth } = bundle.config;
  const zeros = Array(depth).fill(0);
  const plain = await Classifier.fromBundle(bundle, options);
  const base = await runSet(plain, data, zeros, options.batch, "none");
  await plain.release();
  const rows: EvalRow[] = [row("none", 0, zeros, base, base, data, 0)];
  for (const name of options.methods.filter((m) => m !== "none")) {
    const method = methodByName(name)!;
    const c = await Classifier.fromBundle(bundle, { ...options, method });
    for (const target of options.reductions) {
      const schedule = c.scheduleFor(target, { kind: options.schedule, tau: options.tau });
      const run = await runSet(c, data, schedule, options.batch, `${name}@${target}`);
      rows.push(
        row(name, target, schedule, run, base, data, matchGmacs(bundle.config, method, schedule)),
      );
    }
    await c.release();
  }
  return rows;
}
