/**
 * Graph pieces the merge methods share: token counts, the clamped `r`, normalised keys, class
 * attention, full rankings, and the old-to-new map for steps that keep survivors in order.
 * @module
 */
import type { GraphBuilder } from "../onnx/builder.ts";
import { arange, cast, dim, filled, sliceAxis } from "../onnx/ops.ts";
import type { MergeContext } from "./step.ts";

/** `x[:, from:to]`: tokens `from` to `to` (default: the end). */
export function sliceTokens(g: GraphBuilder, x: string, from: number | string, to?: string) {
  return sliceAxis(g, x, 1, from, to);
}

/** `0, 1, ..., n-1` (int64) for `n` int64 `[1]`, broadcast to `[B, n]` like `like`'s batch. */
export function arangeLike(g: GraphBuilder, n: string, like: string): string {
  return g.op("Expand", [arange(g, n), g.op("Concat", [dim(g, like, 0), n], { axis: 0 })]);
}

/** Tokens in the block, int64 `[1]`. */
export function tokenCount(ctx: MergeContext): string {
  return dim(ctx.g, ctx.state.x, 1);
}

/** The requested `r` clamped to `[0, limit]` (`limit` int64 `[1]`); int64 `[1]`. */
export function clampR(ctx: MergeContext, limit: string): string {
  const { g } = ctx;
  const r = g.op("Reshape", [ctx.r, g.constInt([1])]);
  return g.op("Max", [g.op("Min", [r, limit]), g.constInt([0])]);
}

/** Keys of the mergeable tokens (after the prefix), L2-normalised: `[B, M, c]`. */
export function mergeableKeys(ctx: MergeContext): string {
  const { g } = ctx;
  const k = sliceTokens(g, ctx.keys, ctx.prefix);
  return g.op("Div", [k, g.op("ReduceL2", [k], { axes: [-1], keepdims: 1 })]);
}

/** Class attention of the mergeable tokens: row 0 of the attention, mean over heads, `[B, M]`. */
export function classAttention(ctx: MergeContext): string {
  const { g } = ctx;
  const row = g.op("Gather", [ctx.attention, g.constInt(0)], { axis: 2 });
  return sliceTokens(g, g.op("ReduceMean", [row], { axes: [1], keepdims: 0 }), ctx.prefix);
}

/** Rank of every entry of `scores [B, M]` in descending order (0 = highest), int64. */
export function descendingRank(g: GraphBuilder, scores: string): string {
  const m = dim(g, scores, 1);
  const [, order] = g.opN("TopK", [scores, m], 2, { axis: 1, largest: 1, sorted: 1 });
  const positions = arangeLike(g, m, scores);
  return g.op("ScatterElements", [positions, order, positions], { axis: 1 });
}

/** Inclusive prefix count of `mask [B, M]` (bool) minus one: a survivor's new position. */
export function survivorPosition(g: GraphBuilder, mask: string): string {
  const counts = g.op("CumSum", [cast(g, mask, "int64"), g.constInt(1)]);
  return g.op("Sub", [counts, g.constInt(1)]);
}

/**
 * The old-to-new map of a step that removes the tokens flagged in `merged [B, M]` (bool) into
 * `dest [B, M]` (index of a surviving mergeable token) and keeps every survivor in its original
 * order after the prefix. Returns `assign [B, N]` including the prefix.
 */
export function survivorAssign(ctx: MergeContext, merged: string, dest: string): string {
  const { g } = ctx;
  const pos = survivorPosition(g, g.op("Not", [merged]));
  const slot = g.op("Where", [merged, g.op("GatherElements", [pos, dest], { axis: 1 }), pos]);
  return withPrefix(ctx, g.op("Add", [slot, g.constInt(ctx.prefix)]));
}

/** Prepends the prefix tokens' identity slots `0..prefix-1` to a mergeable-token map. */
export function withPrefix(ctx: MergeContext, assign: string): string {
  const { g } = ctx;
  const ids = Array.from({ length: ctx.prefix }, (_, i) => i);
  const prefix = g.op("Expand", [
    g.constInt(ids),
    g.op("Concat", [dim(g, assign, 0), g.constInt([ctx.prefix])], { axis: 0 }),
  ]);
  return g.op("Concat", [prefix, assign], { axis: 1 });
}

/** Prepends weight 1 for the prefix tokens to mergeable-token weights `[B, M]`. */
export function withPrefixWeight(ctx: MergeContext, weight: string): string {
  const { g } = ctx;
  const shape = g.op("Concat", [dim(g, weight, 0), g.constInt([ctx.prefix])], { axis: 0 });
  return g.op("Concat", [filled(g, shape, 1), weight], { axis: 1 });
}

/** Min-max normalisation of `v [B, M]` over its tokens (0 when all are equal). */
export function minMax(g: GraphBuilder, v: string): string {
  const lo = g.op("ReduceMin", [v], { axes: [1], keepdims: 1 });
  const hi = g.op("ReduceMax", [v], { axes: [1], keepdims: 1 });
  return g.op("Div", [
    g.op("Sub", [v, lo]),
    g.op("Add", [g.op("Sub", [hi, lo]), g.constFloat(1e-12)]),
  ]);
}

/** Prepends zeros for the prefix tokens to a mergeable-token value `[B, M]` (float32). */
export function withPrefixZeros(ctx: MergeContext, v: string): string {
  const { g } = ctx;
  const shape = g.op("Concat", [dim(g, v, 0), g.constInt([ctx.prefix])], { axis: 0 });
  return g.op("Concat", [filled(g, shape), v], { axis: 1 });
}

/**
 * Per image, how many of `scores [B, M]` exceed `threshold` (float32 `[1]`); the fewest over the
 * batch, int64 `[1]` (a batch merges alike, so its most conservative image decides).
 */
export function fewestAbove(g: GraphBuilder, scores: string, threshold: string): string {
  const above = g.op("ReduceSum", [
    cast(g, g.op("Greater", [scores, threshold]), "float32"),
    g.constInt([1]),
  ], { keepdims: 0 });
  return cast(g, g.op("ReduceMin", [above], { keepdims: 1, axes: [0] }), "int64");
}
