/**
 * Merge schedules (`r` per block): constant, ToMe's decreasing ramp, delayed (`tau` blocks at
 * zero, then constant), every other block, merges front-loaded along a linear or quadratic ramp,
 * and the schedule that hits a target cost reduction, solved from the GMACs formula and the
 * method's own token counting.
 * @module
 */
import { atResolution, tokenCount, type ViTConfig } from "../checkpoint/config.ts";
import { UserError } from "../errors.ts";
import { gmacs } from "./cost.ts";
import type { MergeMethod } from "./step.ts";

/** The GMACs reduction a method runs at when only its name is given. */
export const DEFAULT_REDUCTION = 0.33;

/** Schedule families. */
export type ScheduleKind =
  | "constant"
  | "decreasing"
  | "delayed"
  | SpreadKind;
/** The schedule families a user may name. */
export const SCHEDULE_KINDS: readonly ScheduleKind[] = [
  "constant",
  "decreasing",
  "delayed",
  "alternate",
  "linear",
  "quadratic",
  "alternate-linear",
  "alternate-quadratic",
];

/**
 * The families that spread any number of merges over any run of blocks, so the budget planner
 * can re-plan the rest of a run in them: evenly, or in proportion to `depth - l` or its square.
 * At high reductions the ramps keep the last blocks from running on a handful of tokens. The
 * `alternate` ones merge in even blocks only: each merge step has a cost of its own, so the same
 * GMACs in half the steps run faster (2-8 % on WASM, 5-10 % on native at 33-65 %).
 */
export type SpreadKind =
  | "constant"
  | "linear"
  | "quadratic"
  | "alternate"
  | "alternate-linear"
  | "alternate-quadratic";
/** The spread families, in the order the planner tries them. */
export const SPREAD_KINDS: readonly SpreadKind[] = [
  "constant",
  "linear",
  "quadratic",
  "alternate",
  "alternate-linear",
  "alternate-quadratic",
];

/**
 * The share of merges block `l` of `depth` gets in family `kind`, relative to the others (0: it
 * does not merge).
 */
function spreadWeight(kind: SpreadKind, l: number, depth: number): number {
  if (kind.startsWith("alternate") && l % 2 !== 0) return 0;
  if (kind.endsWith("linear")) return depth - l;
  if (kind.endsWith("quadratic")) return (depth - l) ** 2;
  return 1;
}

/**
 * Per `kind|depth|most|blocks`: row `k` holds each block's merges when `k` merges are spread
 * (the planner asks for many `k` per decision; a row is then a copy, not a walk of `k` seats).
 */
const spreadTables = new Map<string, Int16Array>();

function spreadTable(kind: SpreadKind, blocks: readonly number[], depth: number, most: number) {
  const n = blocks.length;
  // A run of consecutive blocks (what the planner asks for) gets a short key.
  const consecutive = n === 0 || blocks[n - 1] - blocks[0] === n - 1;
  const where = consecutive ? `${blocks[0]}+${n}` : blocks.join(",");
  const key = `${kind}|${depth}|${most}|${where}`;
  let table = spreadTables.get(key);
  if (!table) {
    const seats: { value: number; i: number }[] = [];
    blocks.forEach((l, i) => {
      const w = spreadWeight(kind, l, depth);
      for (let j = 1; w > 0 && j <= most; j++) seats.push({ value: w / j, i });
    });
    seats.sort((a, b) => b.value - a.value || a.i - b.i);
    table = new Int16Array((seats.length + 1) * n);
    seats.forEach((seat, s) => {
      table!.copyWithin((s + 1) * n, s * n, (s + 1) * n);
      table![(s + 1) * n + seat.i]++;
    });
    spreadTables.set(key, table);
  }
  return table;
}

/**
 * `k` merges over `blocks` (ascending block indices of a `depth`-block model, at most `most`
 * each), in proportion to the family's weights by the highest-quotient rule (D'Hondt), ties to
 * the earlier block. That rule never takes a merge from a block when `k` grows, so cost falls
 * with `k`; evenly it gives each block `floor(k / n)` and the earliest `k % n` one more.
 *
 * @example
 * ```ts
 * spreadMerges(14, [0, 1, 2, 3], 4, "constant", 197); // [4, 4, 3, 3]
 * spreadMerges(10, [0, 1, 2, 3], 4, "linear", 197); // [4, 3, 2, 1]
 * ```
 */
export function spreadMerges(
  k: number,
  blocks: readonly number[],
  depth: number,
  kind: SpreadKind,
  most: number,
): number[] {
  return spreader(blocks, depth, kind, most)(k);
}

/**
 * `spreadMerges` over fixed blocks, as a function of `k` (the planner tries many `k` for one
 * set of blocks).
 *
 * @example
 * ```ts
 * const spread = spreader([6, 7, 8, 9, 10, 11], 12, "linear", 197);
 * spread(21); // [6, 5, 4, 3, 2, 1]
 * ```
 */
export function spreader(
  blocks: readonly number[],
  depth: number,
  kind: SpreadKind,
  most: number,
): (k: number) => number[] {
  const n = blocks.length;
  const table = spreadTable(kind, blocks, depth, most);
  const last = table.length / n - 1;
  return (k) => {
    const row = Math.max(0, Math.min(Math.trunc(k), last)) * n;
    const counts: number[] = [];
    for (let i = 0; i < n; i++) counts.push(table[row + i]);
    return counts;
  };
}

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

/** A schedule a model or method cannot run as given; the message says why. */
export class ScheduleError extends UserError {
  override name = "ScheduleError";
}

/**
 * `r` if `method` can run it on `config` as given (one entry per block, each at most what its
 * block can merge), else `ScheduleError`: a schedule the graph would cut is refused, so what a
 * caller asks is what runs and is reported.
 *
 * @example
 * ```ts
 * checkSchedule(config, tome, Array(12).fill(8)); // the schedule
 * checkSchedule(config, tome, [99, ...Array(11).fill(0)]); // throws: block 0 merges at most 98
 * ```
 */
export function checkSchedule(
  config: ViTConfig,
  method: MergeMethod | undefined,
  r: number[],
): number[] {
  if (r.length !== config.depth) {
    throw new ScheduleError(
      `schedule needs ${config.depth} values (one per block of ${config.name}), got ${r.length}`,
    );
  }
  let n = tokenCount(config);
  r.forEach((rl, l) => {
    const most = method ? method.maxR(n, config.prefixTokens) : 0;
    if (rl > most) {
      throw new ScheduleError(
        `schedule: block ${l} can merge at most ${most} of its ${n} tokens with ` +
          `${method?.name ?? "method none"}, got ${rl}`,
      );
    }
    if (method) n = method.nextCount(n, rl);
  });
  return r;
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
  // The merges the graph really does: a block cut to fewer does not match for more.
  const merged = clampSchedule(config, method, r);
  const tokens = tokensPerBlock(config, method, merged);
  const c = config.embedDim / config.numHeads;
  let macs = 0;
  for (let l = 0; l < config.depth; l++) {
    macs += method.matchMacs(tokens[l], merged[l], c, config.prefixTokens);
  }
  return macs / 1e9;
}

/** Options for `scheduleForReduction`. */
export interface TargetOptions {
  kind?: ScheduleKind;
  /** Blocks without merging for the `delayed` kind and the ramps (`linear`, `quadratic`, ...). */
  tau?: number;
  /**
   * Pixels the run starts at (`atResolution`; default the model's own). The target stays a
   * reduction of the unmerged model at its own resolution: the merges make up the rest.
   */
  resolution?: number;
}

/** The GMACs reduction a run at `resolution` makes before it merges anything. */
export function resolutionReduction(config: ViTConfig, resolution: number): number {
  return 1 - unmergedGmacs(atResolution(config, resolution)) / unmergedGmacs(config);
}

/**
 * The schedule of the given family whose GMACs reduction is closest to `target` (0..1).
 * All but the decreasing ramp spread `k` merges over their active blocks (`spreadMerges`), so
 * reductions are reachable in steps of about one token.
 */
export function scheduleForReduction(
  config: ViTConfig,
  method: MergeMethod,
  target: number,
  options: TargetOptions = {},
): number[] {
  const { depth } = config;
  const at = atResolution(config, options.resolution ?? config.imgSize);
  const kind = options.kind ?? "constant";
  // The ramps start after `tau` too (a delayed method's ramp), as the planner's do.
  const delays = kind === "delayed" || kind.endsWith("linear") || kind.endsWith("quadratic");
  const tau = delays ? Math.min(options.tau ?? 0, depth - 1) : 0;
  const maxR = tokenCount(at);
  const candidates: number[][] = [];
  if (kind === "decreasing") {
    for (let r = 0; r <= maxR; r++) candidates.push(decreasingSchedule(r, depth));
  } else {
    // The blocks that may merge, in order, and how `k` merges spread over them.
    const active = Array.from({ length: depth }, (_, l) => l).filter((l) => l >= tau);
    const spreadActive = spreader(active, depth, kind === "delayed" ? "constant" : kind, maxR);
    for (let k = 0; k <= maxR * active.length; k++) {
      const schedule = Array(depth).fill(0);
      const counts = spreadActive(k);
      active.forEach((l, i) => schedule[l] = counts[i]);
      candidates.push(schedule);
    }
  }
  const full = unmergedGmacs(config);
  let best = candidates[0], bestGap = Infinity;
  for (const schedule of candidates) {
    const gap = Math.abs(1 - gmacs(at, tokensPerBlock(at, method, schedule)) / full - target);
    if (gap < bestGap - 1e-12) [best, bestGap] = [schedule, gap];
  }
  return best;
}
