/**
 * Merge schedules (`r` per block): constant, ToMe's decreasing ramp, delayed (`tau` blocks at
 * zero, then constant), and the schedule that hits a target cost reduction, solved from the
 * GMACs formula and the method's own token counting.
 * @module
 */
import { tokenCount, type ViTConfig } from "../checkpoint/config.ts";
import { gmacs } from "./cost.ts";
import type { MergeMethod } from "./step.ts";

/** The GMACs reduction a method runs at when only its name is given. */
export const DEFAULT_REDUCTION = 0.33;

/** Schedule families. */
export type ScheduleKind = "constant" | "decreasing" | "delayed" | "alternate";
/** The schedule families a user may name. */
export const SCHEDULE_KINDS: readonly ScheduleKind[] = [
  "constant",
  "decreasing",
  "delayed",
  "alternate",
];

/** `r` in every block. */
export function constantSchedule(r: number, depth: number): number[] {
  return Array(depth).fill(r);
}

/** ToMe's `parse_r`: a linear ramp around `r` (inflect -0.5: 1.5r down to 0.5r). */
export function decreasingSchedule(r: number, depth: number, inflect = -0.5): number[] {
  const min = Math.trunc(r * (1 - inflect));
  const max = 2 * r - min;
  const step = (max - min) / (depth - 1);
  return Array.from({ length: depth }, (_, i) => Math.trunc(min + step * i));
}

/** No merging in the first `tau` blocks, then `r` per block. */
export function delayedSchedule(r: number, depth: number, tau: number): number[] {
  return Array.from({ length: depth }, (_, i) => (i < tau ? 0 : r));
}

/**
 * The merges each block can really do: `r` cut to `0 .. maxR` of the tokens it will have (what
 * the graph is fed; for adaptive methods the ceiling). `from` starts the count mid-run: blocks
 * before `from.block` get 0, and `from.tokens` enter that block.
 */
export function clampSchedule(
  config: ViTConfig,
  method: MergeMethod | undefined,
  r: ArrayLike<number>,
  from: { block: number; tokens: number } = { block: 0, tokens: tokenCount(config) },
): number[] {
  let n = from.tokens;
  return Array.from({ length: config.depth }, (_, l) => {
    if (!method || l < from.block) return 0;
    const rl = Math.max(0, Math.min(Math.trunc(r[l] ?? 0), method.maxR(n, config.prefixTokens)));
    n = method.nextCount(n, rl);
    return rl;
  });
}

/** Tokens entering each block and leaving the last, as the graph will report them. */
export function tokensPerBlock(config: ViTConfig, method: MergeMethod | undefined, r: number[]) {
  const tokens = [tokenCount(config)];
  const clamped = clampSchedule(config, method, r);
  for (let l = 0; l < config.depth; l++) {
    tokens.push(method ? method.nextCount(tokens[l], clamped[l]) : tokens[l]);
  }
  return tokens;
}

/** GMACs of the unmerged model. */
export function unmergedGmacs(config: ViTConfig): number {
  return gmacs(config, tokensPerBlock(config, undefined, []));
}

/** GMACs reduction (0..1) of a schedule against the unmerged model. */
export function reductionOf(config: ViTConfig, method: MergeMethod | undefined, r: number[]) {
  return 1 - gmacs(config, tokensPerBlock(config, method, r)) / unmergedGmacs(config);
}

/** Matching overhead (GMACs) of a schedule, reported apart from the model's own cost. */
export function matchGmacs(config: ViTConfig, method: MergeMethod | undefined, r: number[]) {
  if (!method) return 0;
  const tokens = tokensPerBlock(config, method, r);
  const c = config.embedDim / config.numHeads;
  let macs = 0;
  for (let l = 0; l < config.depth; l++) {
    macs += method.matchMacs(tokens[l], r[l] ?? 0, c, config.prefixTokens);
  }
  return macs / 1e9;
}

/** Options for `scheduleForReduction`. */
export interface TargetOptions {
  kind?: ScheduleKind;
  /** Blocks without merging for the `delayed` kind. */
  tau?: number;
}

/**
 * The schedule of the given family whose GMACs reduction is closest to `target` (0..1).
 * Constant and delayed schedules spread `k` merges over the active blocks (earlier blocks get
 * the remainder), so reductions are reachable in steps of about one token.
 */
export function scheduleForReduction(
  config: ViTConfig,
  method: MergeMethod,
  target: number,
  options: TargetOptions = {},
): number[] {
  const { depth } = config;
  const kind = options.kind ?? "constant";
  const tau = kind === "delayed" ? Math.min(options.tau ?? 0, depth - 1) : 0;
  const maxR = tokenCount(config);
  const candidates: number[][] = [];
  if (kind === "decreasing") {
    for (let r = 0; r <= maxR; r++) candidates.push(decreasingSchedule(r, depth));
  } else {
    // The blocks that merge, in order; the earliest get the remainder of `k`.
    const active = Array.from({ length: depth }, (_, l) => l)
      .filter((l) => l >= tau && (kind !== "alternate" || l % 2 === 0));
    for (let k = 0; k <= maxR * active.length; k++) {
      const base = Math.floor(k / active.length), extra = k % active.length;
      const schedule = Array(depth).fill(0);
      active.forEach((l, i) => schedule[l] = base + (i < extra ? 1 : 0));
      candidates.push(schedule);
    }
  }
  let best = candidates[0], bestGap = Infinity;
  for (const schedule of candidates) {
    const gap = Math.abs(reductionOf(config, method, schedule) - target);
    if (gap < bestGap - 1e-12) [best, bestGap] = [schedule, gap];
  }
  return best;
}
