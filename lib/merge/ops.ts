/**
 * Graph pieces the merge methods share: mergeable-token slices, normalised keys, class attention,
 * rankings, index sorting, and the plan of a step that keeps its survivors in their order.
 * @module
 */
import type { GraphBuilder } from "../onnx/builder.ts";
import { arange, cast, dim, sliceAxis } from "../onnx/ops.ts";
import type { MergeContext, MergeTargets } from "./step.ts";

/** `x[:, from:to]`: tokens `from` to `to` (default: the end). */
export function sliceTokens(g: GraphBuilder, x: string, from: number | string, to?: string) {
  return sliceAxis(g, x, 1, from, to);
}

/** `0, 1, ..., n-1` (int64) for `n` int64 `[1]`, broadcast to `[B, n]` like `like`'s batch. */
export function arangeLike(g: GraphBuilder, n: string, like: string): string {
  return g.op("Expand", [arange(g, n), g.op("Concat", [dim(g, like, 0), n], { axis: 0 })]);
}

/** `v [B, N]` as a column `[B, N, 1]`. */
export function column(g: GraphBuilder, v: string): string {
  return g.op("Unsqueeze", [v, g.constInt([2])]);
}

/** `rows [B, R, C]` of `values [B, N, C]` at `index [B, R]` (int64). */
export function gatherRows(g: GraphBuilder, values: string, index: string): string {
  return g.op("GatherND", [values, column(g, index)], { batch_dims: 1 });
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

/**
 * Indices of `scores [B, M]` from the highest to the lowest (ties: lower index first); `m` is M
 * as int64 `[1]`, when known.
 */
export function descendingOrder(g: GraphBuilder, scores: string, m = dim(g, scores, 1)): string {
  return g.opN("TopK", [scores, m], 2, { axis: 1, largest: 1, sorted: 1 })[1];
}

/** Rank of every entry of `scores [B, M]` in descending order (0 = highest), int64. */
export function descendingRank(g: GraphBuilder, order: string): string {
  const positions = arangeLike(g, dim(g, order, 1), order);
  return g.op("ScatterElements", [positions, order, positions], { axis: 1 });
}

/** The int64 indices `index [B, K]` sorted ascending (`k`: K as int64 `[1]`, when known). */
export function ascending(g: GraphBuilder, index: string, k = dim(g, index, 1)): string {
  return g.opN("TopK", [index, k], 2, { axis: 1, largest: 0, sorted: 1 })[0];
}

/** Inclusive prefix count of `mask [B, M]` (bool) minus one: a survivor's new position. */
export function survivorPosition(g: GraphBuilder, mask: string): string {
  const counts = g.op("CumSum", [cast(g, mask, "int64"), g.constInt(1)]);
  return g.op("Sub", [counts, g.constInt(1)]);
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

/** Prepends `value` (float32) for the prefix tokens to a mergeable-token value `[B, M]`. */
export function withPrefixValue(ctx: MergeContext, v: string, value: number): string {
  const { g } = ctx;
  const shape = g.op("Concat", [dim(g, v, 0), g.constInt([ctx.prefix])], { axis: 0 });
  const fill = g.op("ConstantOfShape", [shape], {
    value: { dtype: "float32", dims: [1], data: new Float32Array([value]) },
  });
  return g.op("Concat", [fill, v], { axis: 1 });
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

/**
 * The targets of a step that keeps its survivors in their original order after the prefix.
 * `survivors [B, K]` and `merged [B, R]` are mergeable-token indices in any order; `into` maps the
 * merged ones, sorted ascending, to their destination's position among the survivors (`[B, R]`),
 * or says they fuse into one new token after the survivors.
 */
export function survivorTargets(
  ctx: MergeContext,
  survivors: string,
  merged: string,
  into: (mergedSorted: string) => string | "fused",
  weight?: string,
): MergeTargets {
  const { g, prefix } = ctx;
  const kept = ascending(g, survivors);
  const mergedSorted = ascending(g, merged);
  const target = into(mergedSorted);
  const toTokens = (index: string) => g.op("Add", [index, g.constInt(prefix)]);
  return {
    kept: (rows) =>
      g.op("Concat", [
        sliceTokens(g, rows, 0, g.constInt([prefix])),
        gatherRows(g, sliceTokens(g, rows, prefix), kept),
      ], { axis: 1 }),
    keptIndex: () => {
      const ids = Array.from({ length: prefix }, (_, i) => i);
      const head = g.op("Expand", [
        g.constInt(ids),
        g.op("Concat", [dim(g, kept, 0), g.constInt([prefix])], { axis: 0 }),
      ]);
      return g.op("Concat", [head, toTokens(kept)], { axis: 1 });
    },
    merged: toTokens(mergedSorted),
    into: target === "fused"
      ? g.op("Expand", [
        g.op("Add", [dim(g, kept, 1), g.constInt([prefix])]),
        g.op("Shape", [mergedSorted]),
      ])
      : toTokens(target),
    fused: target === "fused",
    weight,
  };
}
