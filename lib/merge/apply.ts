/**
 * The merging itself, shared by every method. Each token's row is packed as
 * `[x * w, w, size?, sums...]` (`w` = weight * size), the plan's survivors are gathered, each
 * merged token's row is added into its destination (in ascending token order, as a scatter over
 * every token would), and the rows are unpacked: a size-weighted average for `x`, plain sums for
 * sizes and carried sums. Only the merged rows are scattered, so the cost follows `r`, not `N`.
 * @module
 */
import type { GraphBuilder } from "../onnx/builder.ts";
import { dim, filled, sliceAxis } from "../onnx/ops.ts";
import { arangeLike, column, gatherRows } from "./ops.ts";
import type { MergeContext, MergeTargets, TokenState } from "./step.ts";

/** Column `c` of `rows [B, N, C]` as `[B, N]`. */
function columnOf(g: GraphBuilder, rows: string, c: number): string {
  return g.op("Squeeze", [sliceAxis(g, rows, 2, c, c + 1), g.constInt([2])]);
}

/** Emits the merge to `plan`'s targets for tokens of `width` features; the new token state. */
export function applyPlan(ctx: MergeContext, plan: MergeTargets, width: number): TokenState {
  const { g, state } = ctx;
  const w = plan.weight ? g.op("Mul", [plan.weight, state.size]) : state.size;
  const sumNames = Object.keys(state.sums);
  const wColumn = column(g, w);
  const rows = g.op("Concat", [
    g.op("Mul", [state.x, wColumn]),
    wColumn,
    ...(plan.weight ? [column(g, state.size)] : []),
    ...sumNames.map((n) => column(g, state.sums[n])),
  ], { axis: 2 });
  let out = plan.kept(rows);
  if (plan.fused) {
    // One zero row for the fused token, when anything merged.
    const extra = g.op("Min", [dim(g, plan.merged, 1), g.constInt([1])]);
    out = g.op("Concat", [
      out,
      filled(g, g.op("Concat", [dim(g, out, 0), extra, dim(g, out, 2)], { axis: 0 })),
    ], { axis: 1 });
  }
  // Only the merged rows are added (a scatter of every token costs ~7 % of a merged run).
  const added = gatherRows(g, rows, plan.merged);
  const into = g.op("Expand", [column(g, plan.into), g.op("Shape", [added])]);
  out = g.op("ScatterElements", [out, into, added], { axis: 1, reduction: "add" });
  const sizeColumn = plan.weight ? width + 1 : width;
  return {
    x: g.op("Div", [sliceAxis(g, out, 2, 0, width), sliceAxis(g, out, 2, width, width + 1)]),
    size: columnOf(g, out, sizeColumn),
    sums: Object.fromEntries(sumNames.map((n, i) => [n, columnOf(g, out, sizeColumn + 1 + i)])),
    ...(state.sourceMap && { sourceMap: movedSources(g, plan, state) }),
  };
}

/**
 * The source map after the step: every patch follows its token to the token's new slot (the
 * old-to-new map is written from the plan's survivor and merged indices).
 */
function movedSources(g: GraphBuilder, plan: MergeTargets, state: TokenState): string {
  return g.op("GatherElements", [assignment(g, plan, state), state.sourceMap!], { axis: 1 });
}

/** The new slot of every token, `[B, N]`, from the plan's survivor and merged indices. */
function assignment(g: GraphBuilder, plan: MergeTargets, state: TokenState): string {
  const kept = plan.keptIndex();
  const zeros = filled(g, g.op("Shape", [state.size]), 0, "int64");
  return g.op("ScatterElements", [
    g.op("ScatterElements", [zeros, kept, arangeLike(g, dim(g, kept, 1), kept)], { axis: 1 }),
    plan.merged,
    plan.into,
  ], { axis: 1 });
}
