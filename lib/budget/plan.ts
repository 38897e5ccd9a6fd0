/**
 * The schedule of the blocks still to run: of the ways to spread `k` merges over them (in the
 * plan model's family, as `spreadMerges` spreads them) that have a chance (from the recent
 * actual/predicted ratios) of making the time left, or while others wait behind the run those
 * whose predicted time times a tail factor fits, the one with the best expected top-1 times that
 * chance, less the model's price of its predicted time: where accuracy barely falls with more
 * merging a safer plan wins, and where it collapses a likelier-late but far more accurate one
 * does. When none qualifies, the fastest. Pure and serialisable (a `PlanModel` is plain
 * data), so the worker re-plans between segments with the same code the dispatcher plans with.
 *
 * @example
 * ```ts
 * const plan = planRest(config, tome, model, { block: 0, tokens: 197, gmacs: ends }, 25, 0);
 * plan.schedule; // r per block
 * ```
 * @module
 */
import { atResolution, tokenCount, type ViTConfig } from "../checkpoint/config.ts";
import { blockGmacs, endsGmacs } from "../merge/cost.ts";
import { spreader } from "../merge/schedule.ts";
import type { MergeMethod } from "../merge/step.ts";
import type { PlanModel, Progress, Replanner } from "../runtime/jobs.ts";
import { expectedTop1 } from "./accuracy.ts";
import { segmentMs } from "./timing.ts";

/** One way to run the rest, before any time limit: what `bestOf` ranks. */
export interface Spread {
  /** `r` per block (blocks already run: 0). */
  schedule: number[];
  /** Median time of the rest, before the tail factor. */
  predictedMs: number;
  /** Expected top-1 of the whole run. */
  expected: number;
  /** GMACs of the whole run. */
  gmacs: number;
}

/** A plan for the rest of a run: a spread, ranked for the time left. */
export interface Plan extends Spread {
  /** The chance of making the time left (plans without one are not ranked). */
  chance: number;
  /**
   * `expected` times the chance of making the time left, less the price of the predicted time
   * (what plans are ranked by).
   */
  score: number;
  /** Whether the predicted time times the factor fits. */
  fits: boolean;
}

/**
 * Where a run starts: block 0, every token, the embedding and head's GMACs (at `resolution`,
 * default the model's own).
 */
export function startOf(config: ViTConfig, resolution = config.imgSize): Progress {
  const at = atResolution(config, resolution);
  return { block: 0, tokens: tokenCount(at), gmacs: endsGmacs(at) };
}

/** The outcome of merging `k` times over the active blocks `first..depth-1` from `from`. */
function spread(
  config: ViTConfig,
  method: MergeMethod | undefined,
  model: PlanModel,
  from: Progress,
  first: number,
  wantsOf: (k: number) => number[],
  k: number,
): Spread & { merged: number } {
  const { depth, prefixTokens } = config;
  const wants = wantsOf(k);
  const schedule = Array(depth).fill(0);
  let n = from.tokens, gmacs = 0, merging = 0, merged = 0;
  for (let l = from.block; l < depth; l++) {
    let r = 0;
    if (method && l >= first) {
      r = Math.max(0, Math.min(wants[l - first], method.maxR(n, prefixTokens)));
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
 * The spreads `planRest` chooses from for blocks `from.block..` of `method` (none: unmerged
 * only), with no merging before block `tau`, in the order it ranks them (unmerged first). They
 * depend on the model's coefficients, curve, family and resolution, not on the time left, so the
 * dispatcher computes them once per timing fit.
 */
export function spreadsOf(
  own: ViTConfig,
  method: MergeMethod | undefined,
  model: PlanModel,
  from: Progress,
  tau = 0,
): Spread[] {
  const config = atResolution(own, model.resolution ?? own.imgSize);
  const first = Math.max(from.block, tau);
  const blocks = Array.from({ length: Math.max(0, config.depth - first) }, (_, i) => first + i);
  const wantsOf = spreader(blocks, config.depth, model.kind, tokenCount(config));
  // The searches below ask for the same k more than once.
  const spreads = new Map<number, ReturnType<typeof spread>>();
  const at = (k: number) => {
    let p = spreads.get(k);
    if (!p) spreads.set(k, p = spread(config, method, model, from, first, wantsOf, k));
    return p;
  };
  const outcome = ({ schedule, predictedMs, expected, gmacs }: Spread): Spread => ({
    schedule,
    predictedMs,
    expected,
    gmacs,
  });
  const none = outcome(at(0));
  if (!method) return [none];
  const active = Math.max(0, config.depth - first);
  // No plan cheaper than the cheapest point eval measured for the method: below it the accuracy
  // is a guess, and front-loaded heavy merging can collapse it (SAD-TM at 70 % cut answered 14 %
  // correctly in the load bench against an extrapolated 72 %).
  const floor = model.curve.length > 0 ? model.curve[0][0] : 0;
  const allowed = (p: ReturnType<typeof at>) => p.gmacs >= floor - 1e-9;
  let most = active;
  for (let step = Math.max(1, active); at(most).merged >= most && allowed(at(most)); step *= 2) {
    most += step;
  }
  if (!allowed(at(most))) {
    // The most merges within the floor (GMACs fall as k grows).
    let lo = 0, hi = most;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (allowed(at(mid))) lo = mid;
      else hi = mid - 1;
    }
    most = lo;
  }
  // Candidates: every k below one merge per active block (each merge step has its own cost),
  // then a grid up to the most merges allowed.
  const ks = new Set<number>();
  for (let k = 1; k < Math.min(active, most); k++) ks.add(k);
  const lo = Math.min(active, most);
  for (let i = 0; i <= GRID; i++) ks.add(Math.round(lo + ((most - lo) * i) / GRID));
  return [none, ...[...ks].filter((k) => k > 0).map((k) => outcome(at(k)))];
}

/**
 * Of `spreads` (from `spreadsOf`), the best-ranked for `leftMs` under `model`'s tail, chance
 * and price (see the module doc); the fastest when none is ranked.
 */
export function bestOf(model: PlanModel, spreads: readonly Spread[], leftMs: number): Plan {
  let best: Plan | undefined, fastest: Plan | undefined;
  for (const s of spreads) {
    const chance = chanceOfFit(model, s.predictedMs, leftMs);
    const p: Plan = {
      ...s,
      chance,
      score: planScore(model, s.expected, chance, s.predictedMs),
      fits: s.predictedMs * model.factor <= leftMs,
    };
    if (!fastest || p.predictedMs < fastest.predictedMs) fastest = p;
    if (ranked(model.byChance, p) && (!best || p.score > best.score)) best = p;
  }
  if (!fastest) throw new RangeError("no spread to plan from");
  return best ?? fastest;
}

/**
 * The best plan for blocks `from.block..` within `leftMs`, for `method` (none: unmerged), with
 * no merging before block `tau` (delayed methods), for a run at `model.resolution`.
 */
export function planRest(
  own: ViTConfig,
  method: MergeMethod | undefined,
  model: PlanModel,
  from: Progress,
  leftMs: number,
  tau = 0,
): Plan {
  return bestOf(model, spreadsOf(own, method, model, from, tau), leftMs);
}

/** Merge counts tried between one merge per block and the most allowed. */
const GRID = 48;

/** Whether `plan` is ranked at all (`byChance`: see `PlanModel.byChance`). */
export function ranked(byChance: boolean, plan: Pick<Plan, "chance" | "fits">): boolean {
  return byChance ? plan.chance > 0 : plan.fits;
}

/**
 * What a plan is ranked by: its expected top-1 times its chance of making the time left, less
 * the model's price of its predicted time.
 */
export function planScore(
  model: PlanModel,
  expected: number,
  chance: number,
  predictedMs: number,
): number {
  return expected * chance - model.price * predictedMs;
}

/** The chance that a run predicted at `predictedMs` takes at most `leftMs` (see `PlanModel`). */
export function chanceOfFit(model: PlanModel, predictedMs: number, leftMs: number): number {
  if (model.ratios.length === 0) return predictedMs * model.factor <= leftMs ? 1 : 0;
  const limit = leftMs / Math.max(1e-9, predictedMs);
  // The ratios are sorted: count those <= limit by bisection (every plan asks).
  const { ratios } = model;
  let lo = 0, hi = ratios.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ratios[mid] <= limit) lo = mid + 1;
    else hi = mid;
  }
  return lo / ratios.length;
}

/** The worker's re-planner between segments: `planRest` from the job's control data. */
export const replan: Replanner = (config, method, control, progress, leftMs, mustFit = false) => {
  const model = mustFit ? { ...control.model, byChance: false } : control.model;
  const plan = planRest(config, method, model, progress, leftMs, control.tau);
  return !mustFit || plan.fits ? plan.schedule : undefined;
};
