/**
 * PiToMe's energy score as one merge step. Energy of a token: mean over tokens of
 * `ELU(cos - m_l)` with margin `m_l = 0.75 (1 - l/L)`; high energy = redundant. The `2r`
 * highest-energy tokens alternate into A and B by energy order, each A merges into its most
 * similar B, everything else is kept (survivors stay in their original order).
 * @module
 */
import { clampR, descendingRank, mergeableKeys, survivorAssign, tokenCount } from "./ops.ts";
import type { MergeContext, MergeMethod, MergePlan } from "./step.ts";

/** PiToMe's margin for block `l` of `depth`. */
export function pitomeMargin(block: number, depth: number): number {
  return 0.75 * (1 - block / depth);
}

function plan(ctx: MergeContext): MergePlan {
  const { g, prefix } = ctx;
  const k = mergeableKeys(ctx);
  const kT = g.op("Transpose", [k], { perm: [0, 2, 1] });
  const sim = g.op("MatMul", [k, kT]);
  const margin = g.constFloat(pitomeMargin(ctx.block, ctx.depth));
  const energy = g.op("ReduceMean", [g.op("Elu", [g.op("Sub", [sim, margin])])], {
    axes: [-1],
    keepdims: 0,
  });
  const n = tokenCount(ctx);
  const r = clampR(ctx, g.op("Div", [g.op("Sub", [n, g.constInt([prefix])]), g.constInt([2])]));
  const rank = descendingRank(g, energy);
  // Candidates are the 2r highest-energy tokens; even ranks are A (they merge), odd ranks B.
  const candidate = g.op("Less", [rank, g.op("Mul", [r, g.constInt([2])])]);
  const even = g.op("Equal", [g.op("Mod", [rank, g.constInt(2)]), g.constInt(0)]);
  const isA = g.op("And", [candidate, even]);
  const isB = g.op("And", [candidate, g.op("Not", [even])]);
  // Each A's destination: its most similar B (the energy's similarity matrix, other columns masked).
  const bMask = g.op("Where", [
    g.op("Unsqueeze", [isB, g.constInt([1])]),
    g.constFloat(0),
    g.constFloat(-Infinity),
  ]);
  const dest = g.op("ArgMax", [g.op("Add", [sim, bMask])], { axis: -1, keepdims: 0 });
  return { assign: survivorAssign(ctx, isA, dest), count: g.op("Sub", [n, r]) };
}

/** PiToMe as a merge method. */
export const pitome: MergeMethod = {
  name: "pitome",
  plan,
  nextCount: (n, r, prefix) => n - Math.max(0, Math.min(r, Math.floor((n - prefix) / 2))),
  matchMacs: (n, r, c, prefix) => (r > 0 ? (n - prefix) ** 2 * c : 0),
};
