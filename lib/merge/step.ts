/**
 * The merge-step interface. A method looks at one block's tokens, keys and attention and emits
 * ONNX nodes that decide, for every token, which new token it becomes (`MergePlan`). The shared
 * machinery in `apply.ts` then does the merging itself, the same way for every method.
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
  /** Which token each original patch is now part of, `[B, P]` int64. */
  sourceMap: string;
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
  /** Requested merges in this block, int64 scalar (the method clamps it). */
  r: string;
}

/** A method's decision for one block. */
export interface MergePlan {
  /** New slot of every current token, `[B, N]` int64; slots are `0 .. count-1`. */
  assign: string;
  /** Number of tokens after the step, int64 `[1]`. */
  count: string;
  /** Extra merge weights `[B, N]` (the average uses `weight * size`); default 1. */
  weight?: string;
}

/** A token-merging method: ToMe, EViT, PiToMe, ... */
export interface MergeMethod {
  /** Name used everywhere (CLI, eval, API). */
  readonly name: string;
  /** Emits the nodes that decide this block's merges. */
  plan(ctx: MergeContext): MergePlan;
  /** Tokens after the step for `n` tokens and a requested `r` (the graph's own clamping). */
  nextCount(n: number, r: number, prefix: number): number;
  /** MACs of the method's own matching for `n` tokens, `r` merges, head width `c`. */
  matchMacs(n: number, r: number, c: number, prefix: number): number;
  /** Extra graph inputs the method reads (e.g. a saliency prior). */
  inputs?(config: ViTConfig): MethodInput[];
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
