/**
 * PiToMe's energy score as one merge step. Energy of a token: mean over tokens of
 * `ELU(cos - m_l)` with margin `m_l = 0.75 (1 - l/L)`; high energy = redundant. The `2r`
 * highest-energy tokens alternate into A and B by energy order, each A merges into its most
 * similar B, everything else is kept (survivors stay in their original order).
 * @module
 */
import { END, filled, sliceAxis } from "../onnx/ops.ts";
import {
  descendingOrder,
  gatherRows,
  mergeableKeys,
  survivorPosition,
  survivorTargets,
} from "./ops.ts";
import { bipartiteMaxR } from "./bipartite.ts";
import {
  allPairsMacs,
  type MergeContext,
  type MergeMethod,
  type MergePlan,
  type MergeTargets,
} from "./step.ts";

/** PiToMe's margin for block `l` of `depth`. */
export function pitomeMargin(block: number, depth: number): number {
  return 0.75 * (1 - block / depth);
}

function plan(ctx: MergeContext): MergePlan {
  const { g, r } = ctx;
  const k = mergeableKeys(ctx);
  const sim = g.op("MatMul", [k, g.op("Transpose", [k], { perm: [0, 2, 1] })]);
  const margin = g.constFloat(pitomeMargin(ctx.block, ctx.depth));
  const energy = g.op("ReduceMean", [g.op("Elu", [g.op("Sub", [sim, margin])])], {
    axes: [-1],
    keepdims: 0,
  });
  return { r, targets: () => targets(ctx, sim, energy) };
}

/**
 * Candidates are the 2r highest-energy tokens; even ranks are A (they merge), odd ranks B.
 */
function targets(ctx: MergeContext, sim: string, energy: string): MergeTargets {
  const { g, r } = ctx;
  const order = descendingOrder(g, energy);
  const twoR = g.op("Mul", [r, g.constInt([2])]);
  const a = sliceAxis(g, order, 1, 0, twoR, 2);
  const b = sliceAxis(g, order, 1, 1, twoR, 2);
  const rest = sliceAxis(g, order, 1, twoR, END);
  // -inf everywhere but the B columns, so each A's argmax is its most similar B.
  const bColumns = g.op("ScatterElements", [
    filled(g, g.op("Shape", [energy]), -Infinity),
    b,
    filled(g, g.op("Shape", [b])),
  ], { axis: 1 });
  const isA = g.op("ScatterElements", [
    filled(g, g.op("Shape", [energy]), 0, "int64"),
    a,
    filled(g, g.op("Shape", [a]), 1, "int64"),
  ], { axis: 1 });
  const slot = survivorPosition(g, g.op("Equal", [isA, g.constInt(0)]));
  return survivorTargets(ctx, g.op("Concat", [b, rest], { axis: 1 }), a, (merged) => {
    const towardsB = g.op("Add", [
      gatherRows(g, sim, merged),
      g.op("Unsqueeze", [bColumns, g.constInt([1])]),
    ]);
    const dest = g.op("ArgMax", [towardsB], { axis: -1, keepdims: 0 });
    return g.op("GatherElements", [slot, dest], { axis: 1 });
  });
}

/** PiToMe as a merge method. */
export const pitome: MergeMethod = {
  name: "pitome",
  plan,
  maxR: bipartiteMaxR,
  nextCount: (n, r) => n - r,
  matchMacs: allPairsMacs,
};
