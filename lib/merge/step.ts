/**
 * The merge-step interface. A method looks at one block's tokens, keys and attention and emits
 * ONNX nodes that decide which mergeable tokens (those after the prefix) survive, in what order,
 * and where each merged one goes (`MergePlan`). The shared machinery in `apply.ts` then does the
 * merging itself, the same way for every method: survivors are gathered, merged tokens are added
 * into their destinations, and every average is weighted by size.
 * @module
 */
import type { HostTensor } from "../backend/session.ts";
import { UserError } from "../errors.ts";
import type { DType, GraphBuilder } from "../onnx/builder.ts";
import type { ViTConfig } from "../checkpoint/config.ts";

/** Per-token state carried between blocks (all names of graph values). */
export interface TokenState {
  /** Tokens `[B, N, D]`. */
  x: string;
  /** Patches each token stands for, `[B, N]` float32. */
  size: string;
  /** Per-token sums over the patches a token holds (`[B, N]` float32 each), by name. */
  sums: Record<string, string>;
  /** Which token each patch is now part of, `[B, P]` int64, where the graph tracks it. */
  sourceMap?: string;
}

/** What a method sees in one block. */
export interface MergeContext {
  g: GraphBuilder;
  /** Block index, 0-based. */
  block: number;
  depth: number;
  /** Leading tokens (class token) that never merge nor receive a merge. */
  prefix: number;
  state: TokenState;
  /** Keys averaged over heads, `[B, N, D/H]` (not normalised). */
  keys: string;
  /** Softmax attention `[B, H, N, N]`. */
  attention: string;
  /**
   * Requested merges in this block, int64 `[1]`, at least 1 and at most `maxR` of the current
   * token count (the runtime clamps schedules; blocks with `r = 0` skip the step). Adaptive
   * methods take it as their ceiling.
   */
  r: string;
}

/**
 * A method's decision for one block: how many tokens merge, and the merge itself, emitted only
 * where that number is above 0 (inside the step's `If`).
 */
export interface MergePlan {
  /** Merges done, int64 `[1]` (adaptive methods choose it; it may be 0). */
  r: string;
  /** Emits the merge's targets. */
  targets(): MergeTargets;
}

/**
 * Where tokens go, in token indices (the prefix included: it always survives, first and
 * unchanged).
 */
export interface MergeTargets {
  /** The surviving rows of `rows [B, N, C]` (aligned with the tokens) in output order. */
  kept(rows: string): string;
  /** The surviving tokens' indices in output order, `[B, K]` (only where the source map is kept). */
  keptIndex(): string;
  /** The merged-away tokens, `[B, R]` int64, ascending. */
  merged: string;
  /** Output slot of each merged token: a survivor's `0 .. K-1`, or `K` when `fused`; `[B, R]`. */
  into: string;
  /** EViT: merged tokens make one new token after the survivors (when `R > 0`). */
  fused?: boolean;
  /** Extra merge weights `[B, N]`, 1 for the prefix (the average uses `weight * size`). */
  weight?: string;
}

/** A token-merging method: ToMe, EViT, PiToMe, ... */
export interface MergeMethod {
  /** Name used everywhere (CLI, eval, API). */
  readonly name: string;
  /** Emits the nodes that decide this block's merges. */
  plan(ctx: MergeContext): MergePlan;
  /** The most merges the step can do on `n` tokens (the runtime clamps schedules to it). */
  maxR(n: number, prefix: number): number;
  /** Tokens after the step for `n` tokens and `r` merges (`r` within `0 .. maxR`). */
  nextCount(n: number, r: number): number;
  /** MACs of the method's own matching for `n` tokens, `r` merges, head width `c`. */
  matchMacs(n: number, r: number, c: number, prefix: number): number;
  /** Extra graph inputs the method reads (e.g. a saliency prior). */
  inputs?(config: ViTConfig): MethodInput[];
  /**
   * Per-token sums the method reads, carried through merges, by name: each emits its initial
   * `[B, N]` value from the embedded `tokens [B, N, D]`.
   */
  readonly sums?: Record<string, (g: GraphBuilder, tokens: string, config: ViTConfig) => string>;
  /** Values for those inputs, and the delay the method's data suggests (SAD-TM's prior). */
  prepare?(config: ViTConfig, options: MethodOptions): Promise<PreparedMethod>;
  /** Merge only after `tau` blocks (SAD-TM-DM); `tau` comes from the prior unless given. */
  readonly delayed?: boolean;
  /** `r` is decided in the graph per image (AdaMerge); the schedule gives only `r_max`. */
  readonly adaptive?: boolean;
}

/** What `prepare` returns. */
export interface PreparedMethod {
  feeds: Record<string, HostTensor>;
  suggestedTau?: number;
}

/** Runtime options of methods with extra inputs. */
export interface MethodOptions {
  /** SAD-TM's saliency prior, resolved by whoever loads the model (KV, files). */
  prior?: PatchPrior;
  /** SAD-TM's class-attention weight (`beta = 1 - alpha`). */
  alpha?: number;
  /** AdaMerge's score threshold. */
  theta?: number;
  /** AdaMerge's salience damping of the scores, in `[0, 1)`. */
  gamma?: number;
  /** AdaMerge: share of salience in merge weights (1: `size * (1 + sigma)`, 0: `size`). */
  salienceWeight?: number;
  /** Adaptive methods: the ceiling `r_max` is the schedule of this multiple of the target. */
  ceiling?: number;
  /** SAD-TM: +1 merges low-outlierness (low `o`) patches first, as the paper; -1 the reverse. */
  priorSign?: 1 | -1;
  /** SAD-TM: share of the importance `m` in merge weights (1: `m * size`, 0: `size`). */
  importanceWeight?: number;
}

/**
 * What SAD-TM reads of a saliency prior (`lib/saliency` computes them; `SaliencyPrior` has this
 * shape and more).
 */
export interface PatchPrior {
  /** The model the prior was computed on. */
  model: string;
  /** Patch grid `[rows, cols]`. */
  grid: [number, number];
  /** Mean outlierness per patch, row-major. */
  vector: readonly number[];
  /** Blocks to leave unmerged in delayed merging. */
  suggestedTau: number;
  /**
   * Settings measured best on this model, by method name (`sadtm`, `adamerge`, ...); they
   * replace the methods' defaults, and options given explicitly replace them. They live with the
   * prior because the prior is what is stored per model (files and Deno KV).
   */
  settings?: Record<string, MethodSettings>;
}

/** A method's settings chosen by evidence on one model (docs/RESULTS.md). */
export interface MethodSettings {
  /** SAD-TM. */
  alpha?: number;
  /** SAD-TM. */
  priorSign?: 1 | -1;
  /** Delayed methods: blocks before merging, instead of the prior's `suggestedTau`. */
  tau?: number;
  /** AdaMerge. */
  gamma?: number;
  /** AdaMerge. */
  salienceWeight?: number;
}

/** A saliency prior is missing, malformed, or of another patch grid. */
export class PriorError extends UserError {
  override name = "PriorError";
}

/** A graph input a method declares. */
export interface MethodInput {
  name: string;
  dtype: DType;
  dims: number[];
}

/** `r` at most for a method that can reduce the tokens after the prefix to one (pruning, fusing). */
export function allButOneMaxR(n: number, prefix: number): number {
  return Math.max(0, n - prefix - 1);
}

/** MACs of scoring every token after the prefix against every other, `c` wide. */
export function allPairsMacs(n: number, r: number, c: number, prefix: number): number {
  return r > 0 ? (n - prefix) ** 2 * c : 0;
}
