/**
 * The schedule of the blocks still to run: of every way to spread `k` merges over them (as
 * `scheduleForReduction` spreads them, earlier blocks first), the one with the best expected
 * top-1 whose predicted time, times a tail factor, fits the time left; when none fits, the
 * fastest. Pure and serialisable (a `PlanModel` is plain data), so the worker re-plans between
 * segments with the same code the dispatcher plans with.
 *
 * @example
 * ```ts
 * const plan = planRest(config, tome, model, { block: 0, tokens: 197, gmacs: ends }, 25, 0);
 * plan.schedule; // r per block
 * ```
 * @module
 */
import { tokenCount, type ViTConfig } from "../checkpoint/config.ts";
import { blockGmacs, endsGmacs } from "../merge/cost.ts";
import type { MergeMethod } from "../merge/step.ts";
import type { PlanModel, Progress, Replanner } from "../runtime/jobs.ts";
import { expectedTop1 } from "./accuracy.ts";
import { segmentMs } from "./timing.ts";

/** A plan for the rest of a run. */
export interface Plan {
  /** `r` per block (blocks already run: 0). */
  schedule: number[];
  /** Median time of the rest, before the tail factor. */
  predictedMs: number;
  /** Expected top-1 of the whole run. */
  expected: number;
  /** GMACs of the whole run. */
  gmacs: number;
  /** Whether the predicted time times the factor fits. */
  fits: boolean;
}

/** Where a run starts: block 0, every token, the embedding and head's GMACs. */
export function startOf(config: ViTConfig): Progress {
  return { block: 0, tokens: tokenCount(config), gmacs: endsGmacs(config) };
}

/** The outcome of merging `k` times over the active blocks `first..depth-1` from `from`. */
function spread(
  config: ViTConfig,
  method: MergeMethod | undefined,
  model: PlanModel,
  from: Progress,
  first: number,
  k: number,
): Omit<Plan, "fits"> & { merged: number } {
  const { depth, prefixTokens } = config;
  const active = depth - first;
  const schedule = Array(depth).fill(0);
  let n = from.tokens, gmacs = 0, merging = 0, merged = 0;
  for (let l = from.block; l < depth; l++) {
    let r = 0;
    if (method && l >= first && active > 0) {
      const i = l - first;
      const want = Math.floor(k / active) + (i < k % active ? 1 : 0);
      r = Math.max(0, Math.min(want, method.maxR(n, prefixTokens)));
    }
    const next = method ? method.nextCount(n, r) : n;
    gmacs += blockGmacs(config, n, next);
    schedule[l] = r;
    if (r > 0) merging++;
    merged += r;
    n = next;
  }
  const blocks = depth - from.block;
  const predictedMs = segmentMs(model.coef, {
    gmacs,
    blocks,
    merging,
    embed: from.block === 0,
    head: true,
    runs: Math.ceil(blocks / model.segment),
  });
  const total = from.gmacs + gmacs;
  return {
    schedule,
    predictedMs,
    expected: expectedTop1(model.curve, total),
    gmacs: total,
    merged,
  };
}

/**
 * The best plan for blocks `from.block..` within `leftMs`, for `method` (none: unmerged), with
 * no merging before block `tau` (delayed methods).
 */
export function planRest(
  config: ViTConfig,
  method: MergeMethod | undefined,
  model: PlanModel,
  from: Progress,
  leftMs: number,
  tau = 0,
): Plan {
  const first = Math.max(from.block, tau);
  let best: ReturnType<typeof spread> | undefined;
  let fastest = spread(config, method, model, from, first, 0);
  let fits = fastest.predictedMs * model.factor <= leftMs;
  if (fits) best = fastest;
  if (method) {
    for (let k = 1; k < config.depth * tokenCount(config); k++) {
      const p = spread(config, method, model, from, first, k);
      if (p.predictedMs < fastest.predictedMs) fastest = p;
      if (p.predictedMs * model.factor <= leftMs && (!best || p.expected > best.expected)) {
        best = p;
        fits = true;
      }
      if (p.merged < k) break; // the blocks merge all they can: more k changes nothing
    }
  }
  const chosen = best ?? fastest;
  return {
    schedule: chosen.schedule,
    predictedMs: chosen.predictedMs,
    expected: chosen.expected,
    gmacs: chosen.gmacs,
    fits,
  };
}

/** The worker's re-planner between segments: `planRest` from the job's control data. */
export const replan: Replanner = (config, method, control, progress, leftMs) =>
  planRest(config, method, control.model, progress, leftMs, control.tau).schedule;
