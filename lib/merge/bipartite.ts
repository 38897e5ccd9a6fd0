/**
 * Bipartite soft matching, as in ToMe (facebookresearch/ToMe): tokens alternate into A (even)
 * and B (odd); each A finds its most similar B; the `r` A tokens with the highest score merge
 * into their match. Output order as the official code: the class token, the surviving A tokens
 * in order, then all of B. The class token (index 0, in A) is left out of A instead of being
 * masked, so A is tokens 2, 4, ... and `r` is at most `(N - 1) // 2`. ToMe uses it as is; AdaMerge
 * adjusts the scores and chooses `r` from them.
 * @module
 */
import { dim, END, filled, sliceAxis } from "../onnx/ops.ts";
import {
  arangeLike,
  ascending,
  descendingOrder,
  gatherRows,
  mergeableKeys,
  sliceTokens,
} from "./ops.ts";
import type { MergeContext, MergePlan, MergeTargets } from "./step.ts";

/** Hooks that turn ToMe's matching into a variant (AdaMerge). */
export interface BipartiteOptions {
  /** Rewrites the A tokens' best-match scores `[B, |A|]`; `inA` takes the A entries of a `[B, M]` mergeable-token value. */
  adjust?: (best: string, inA: (x: string) => string) => string;
  /** Chooses `r` (int64 `[1]`) from the (adjusted) scores and the requested `r`. */
  chooseR?: (best: string, requested: string) => string;
  /** Merge weights `[B, N]` (1 for the class token). */
  weight?: string;
}

/** `r` at most: every A token but the class token. */
export function bipartiteMaxR(n: number, prefix: number): number {
  return Math.max(0, Math.floor((n - prefix) / 2));
}

/** MACs of bipartite matching: each A token's scores against every B token, `c` wide. */
export function bipartiteMacs(n: number, r: number, c: number): number {
  return r > 0 ? Math.ceil(n / 2) * Math.floor(n / 2) * c : 0;
}

/** The bipartite step's plan. */
export function bipartite(ctx: MergeContext, options: BipartiteOptions = {}): MergePlan {
  const { g, prefix } = ctx;
  if (prefix !== 1) throw new Error("bipartite matching protects exactly one class token");
  // Over the mergeable tokens (tokens 1, 2, ...): A is 1, 3, 5, ... and B is 0, 2, 4, ...
  const inA = (x: string) => sliceAxis(g, x, 1, 1, END, 2);
  const inB = (x: string) => sliceAxis(g, x, 1, 0, END, 2);
  const k = mergeableKeys(ctx);
  const scores = g.op("MatMul", [inA(k), g.op("Transpose", [inB(k)], { perm: [0, 2, 1] })]);
  let best = g.op("ReduceMax", [scores], { axes: [-1], keepdims: 0 });
  const match = g.op("ArgMax", [scores], { axis: -1, keepdims: 0 });
  if (options.adjust) best = options.adjust(best, inA);
  const r = options.chooseR ? options.chooseR(best, ctx.r) : ctx.r;
  return { r, targets: () => targets(ctx, scores, best, match, r, options.weight) };
}

/** Where tokens go: the `r` best A tokens into their match; kept A, then B. */
function targets(
  ctx: MergeContext,
  scores: string,
  best: string,
  match: string,
  r: string,
  weight?: string,
): MergeTargets {
  const { g } = ctx;
  const na = dim(g, best, 1);
  const order = descendingOrder(g, best, na);
  const keptCount = g.op("Sub", [na, r]);
  const mergedA = ascending(g, sliceAxis(g, order, 1, 0, r), r);
  const keptA = ascending(g, sliceAxis(g, order, 1, r), keptCount);
  // Token index of the i-th A token: 2 + 2i; of the j-th B token: 1 + 2j.
  const aTokens = (i: string) => g.op("Add", [g.op("Mul", [i, g.constInt(2)]), g.constInt(2)]);
  return {
    kept: (rows) =>
      g.op("Concat", [
        sliceTokens(g, rows, 0, g.constInt([1])),
        gatherRows(g, sliceAxis(g, rows, 1, 2, END, 2), keptA),
        sliceAxis(g, rows, 1, 1, END, 2),
      ], { axis: 1 }),
    keptIndex: () => {
      const bTokens = g.op("Add", [
        g.op("Mul", [arangeLike(g, dim(g, scores, 2), keptA), g.constInt(2)]),
        g.constInt(1),
      ]);
      const cls = filled(
        g,
        g.op("Concat", [dim(g, keptA, 0), g.constInt([1])], { axis: 0 }),
        0,
        "int64",
      );
      return g.op("Concat", [cls, aTokens(keptA), bTokens], { axis: 1 });
    },
    merged: aTokens(mergedA),
    into: g.op("Add", [
      g.op("GatherElements", [match, mergedA], { axis: 1 }),
      g.op("Add", [keptCount, g.constInt([1])]),
    ]),
    weight,
  };
}
