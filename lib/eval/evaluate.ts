/**
 * The evaluation loop: every method x target reduction on one image set, each paired against
 * the unmerged run on the same images (accuracy, agreement, KL, GMACs, latency).
 * @module
 */
import type { HostTensor, SessionOptions } from "../backend/session.ts";
import { calibrateTheta } from "./calibrate.ts";
import { Classifier } from "../runtime/classifier.ts";
import type { OnProgress } from "../progress.ts";
import { methodByName } from "../merge/methods.ts";
import { matchGmacs, resolutionReduction, type ScheduleKind } from "../merge/schedule.ts";
import { atResolution, ResolutionError } from "../checkpoint/config.ts";
import type { MethodOptions } from "../merge/step.ts";
import type { ModelBundle } from "../checkpoint/bundle.ts";
import type { Dataset } from "./dataset.ts";
import { pairedMetrics } from "./metrics.ts";

/** One row of results (the `--out` JSON format). */
export interface EvalRow {
  method: string;
  target_reduction: number;
  schedule: number[];
  /** The family `schedule` was solved in (absent in results written before families were kept). */
  schedule_kind?: ScheduleKind;
  gmacs: number;
  match_gmacs: number;
  reduction: number;
  top1: number;
  top5: number;
  agree_top1: number;
  kl: number;
  latency_ms_p50: number;
  n: number;
  /** Spread of per-image GMACs (differs from `gmacs` only for adaptive methods). */
  gmacs_p5: number;
  gmacs_p50: number;
  gmacs_p95: number;
  /** AdaMerge's calibrated threshold. */
  theta?: number;
  /** Pixels the run started at, when below the model's own. */
  resolution?: number;
}

/** What to evaluate. */
export interface EvalOptions extends SessionOptions, MethodOptions {
  methods: string[];
  reductions: number[];
  batch: number;
  schedule: ScheduleKind;
  /** Blocks without merging for delayed schedules (default: the method's suggestion, else 0). */
  tau?: number;
  /**
   * Pixels the merged runs start at (`atResolution`; default the model's own); targets stay
   * reductions of the unmerged model at its own resolution.
   */
  resolution?: number;
  /** Images (from the start of the set) used to calibrate adaptive methods; default 64. */
  calibrationImages?: number;
  onProgress?: OnProgress;
}

interface RunResult {
  logits: Float32Array[];
  /** Per image. */
  gmacs: number[];
  latencyP50: number;
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function runSet(
  c: Classifier,
  data: Dataset,
  r: number[],
  batch: number,
  label: string,
  onProgress: OnProgress | undefined,
  feeds: Record<string, HostTensor> = {},
  resolution?: number,
): Promise<RunResult> {
  const steps = Math.ceil(data.inputs.length / batch);
  const logits: Float32Array[] = [], perImage: number[] = [], gmacs: number[] = [];
  for (let i = 0; i < data.inputs.length; i += batch) {
    const chunk = data.inputs.slice(i, i + batch);
    const t0 = performance.now();
    const outs = await c.run(chunk, r, feeds, c.method, resolution);
    perImage.push((performance.now() - t0) / chunk.length);
    outs.forEach((o) => (logits.push(o.logits), gmacs.push(o.gmacs)));
    onProgress?.(label, perImage.length, steps);
  }
  perImage.sort((a, b) => a - b);
  return { logits, gmacs, latencyP50: quantile(perImage, 0.5) };
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
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const sorted = [...run.gmacs].sort((a, b) => a - b);
  return {
    method,
    target_reduction: target,
    schedule,
    gmacs: mean(run.gmacs),
    gmacs_p5: quantile(sorted, 0.05),
    gmacs_p50: quantile(sorted, 0.5),
    gmacs_p95: quantile(sorted, 0.95),
    match_gmacs: matchCost,
    reduction: 1 - mean(run.gmacs) / mean(base.gmacs),
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
  const base = await runSet(plain, data, zeros, options.batch, "none", options.onProgress)
    .finally(() => plain.release());
  const rows: EvalRow[] = [row("none", 0, zeros, base, base, data, 0)];
  const own = bundle.config.imgSize;
  const resolution = options.resolution === own ? undefined : options.resolution;
  const at = atResolution(bundle.config, resolution ?? own);
  if (resolution !== undefined) {
    const least = resolutionReduction(bundle.config, resolution);
    const below = options.reductions.filter((t) => t < least - 0.005);
    if (below.length > 0) {
      throw new ResolutionError(
        `resolution ${resolution} alone cuts ${(100 * least).toFixed(1)} % of the GMACs: ` +
          `reductions ${below.join(", ")} are below that`,
      );
    }
  }
  for (const name of options.methods.filter((m) => m !== "none")) {
    const method = methodByName(name)!;
    if (resolution !== undefined && method.adaptive) {
      throw new ResolutionError(`resolution: ${name} is adaptive and runs at ${own} only`);
    }
    const c = await Classifier.fromBundle(bundle, { ...options, method });
    try {
      for (const target of options.reductions) {
        const schedule = c.scheduleFor(target, {
          kind: options.schedule,
          tau: options.tau,
          ceiling: options.ceiling,
          resolution,
        });
        const match = matchGmacs(at, method, schedule);
        if (!method.adaptive) {
          const run = await runSet(
            c,
            data,
            schedule,
            options.batch,
            `${name}@${target}`,
            options.onProgress,
            {},
            resolution,
          );
          rows.push({
            ...row(name, target, schedule, run, base, data, match),
            schedule_kind: options.schedule,
            ...(resolution !== undefined && { resolution }),
          });
          continue;
        }
        // Adaptive: calibrate theta on the first images, then run at batch 1.
        const calibration = data.inputs.slice(0, options.calibrationImages ?? 64);
        const { theta } = await calibrateTheta(c, calibration, schedule, target, base.gmacs[0], {
          onProgress: options.onProgress,
        });
        const feeds = { theta: { data: new Float32Array([theta]), dims: [1] } };
        const run = await runSet(
          c,
          data,
          schedule,
          1,
          `${name}@${target}`,
          options.onProgress,
          feeds,
        );
        rows.push({
          ...row(name, target, schedule, run, base, data, match),
          schedule_kind: options.schedule,
          theta,
        });
      }
    } finally {
      await c.release();
    }
  }
  return rows;
}
