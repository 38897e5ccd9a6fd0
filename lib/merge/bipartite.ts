/**
 * Bipartite soft matching, as in ToMe (facebookresearch/ToMe): tokens alternate into A (even)
 * and B (odd); each A finds its most similar B; the `r` A tokens with the highest score merge
 * into their match. Output order as the official code: surviving A tokens in order (class token
 * first), then all of B. `r` is capped at `(N - prefix) // 2`. ToMe uses it as is; AdaMerge
 * adjusts the scores and chooses `r` from them.
 * @module
 */
import { dim, END, filled, sliceAxis } from "../onnx/ops.ts";
import {
  arangeLike,
  clampR,
  descendingRank,
  sliceTokens,
  survivorPosition,
  tokenCount,
} from "./ops.ts";
import type { MergeContext, MergePlan } from "./step.ts";

/** Hooks that turn ToMe's matching into a variant (AdaMerge). */
export interface BipartiteOptions {
  /** Rewrites the A tokens' best-match scores `[B, |A|]`; `evens` takes the A entries of a `[B, N]` value. */
  adjust?: (best: string, evens: (x: string) => string) => string;
  /** Chooses `r` (int64 `[1]`) from the (adjusted) scores and the capped requested `r`. */
  chooseR?: (best: string, capped: string) => string;
}

/** The bipartite step; returns the plan and the `r` it used. */
export function bipartite(
  ctx: MergeContext,
  options: BipartiteOptions = {},
): MergePlan & { r: string } {
  const { g, prefix } = ctx;
  const k = g.op("Div", [ctx.keys, g.op("ReduceL2", [ctx.keys], { axes: [-1], keepdims: 1 })]);
  const every2 = (x: string, start: number): string => sliceAxis(g, x, 1, start, END, 2);
  const a = every2(k, 0), b = every2(k, 1);
  let scores = g.op("MatMul", [a, g.op("Transpose", [b], { perm: [0, 2, 1] })]);
  // Protected tokens: A rows and B columns of the prefix can neither merge nor receive.
  const protectedCols = Math.floor(prefix / 2);
  if (protectedCols > 0) {
    const nb = dim(g, b, 1);
    const open = filled(g, g.op("Sub", [nb, g.constInt([protectedCols])]));
    const mask = g.op("Concat", [g.constFloat(Array(protectedCols).fill(-Infinity)), open], {
      axis: 0,
    });
    scores = g.op("Add", [scores, mask]);
  }
  let best = g.op("ReduceMax", [scores], { axes: [-1], keepdims: 0 });
  const match = g.op("ArgMax", [scores], { axis: -1, keepdims: 0 });
  const protectedRows = Math.ceil(prefix / 2);
  const na = dim(g, a, 1), nb = dim(g, b, 1);
  const rest = filled(g, g.op("Sub", [na, g.constInt([protectedRows])]));
  const rowMask = g.op("Concat", [g.constFloat(Array(protectedRows).fill(-Infinity)), rest], {
    axis: 0,
  });
  best = g.op("Add", [best, rowMask]);

  const n = tokenCount(ctx);
  if (options.adjust) best = options.adjust(best, (x) => every2(x, 0));
  const capped = clampR(
    ctx,
    g.op("Div", [g.op("Sub", [n, g.constInt([prefix])]), g.constInt([2])]),
  );
  const r = options.chooseR ? options.chooseR(best, capped) : capped;
  const merged = g.op("Less", [descendingRank(g, best), r]);
  const kept = g.op("Sub", [na, r]);
  const assignA = g.op("Where", [
    merged,
    g.op("Add", [match, kept]),
    survivorPosition(g, g.op("Not", [merged])),
  ]);
  const assignB = g.op("Add", [arangeLike(g, nb, b), kept]);
  // Interleave back to token order: pad B to |A| (they differ by at most one), stack, flatten.
  const pad = filled(
    g,
    g.op("Concat", [dim(g, a, 0), g.op("Sub", [na, nb])], { axis: 0 }),
    0,
    "int64",
  );
  const pairs = g.op("Concat", [
    g.op("Unsqueeze", [assignA, g.constInt([2])]),
    g.op("Unsqueeze", [g.op("Concat", [assignB, pad], { axis: 1 }), g.constInt([2])]),
  ], { axis: 2 });
  const flat = sliceTokens(g, g.op("Reshape", [pairs, g.constInt([0, -1])]), 0, n);
  // With r = 0 the official code leaves the order alone; so must we, for an exact no-op.
  const assign = g.op("Where", [
    g.op("Greater", [r, g.constInt([0])]),
    flat,
    arangeLike(g, n, flat),
  ]);
  return { assign, count: g.op("Add", [kept, nb]), r };
}
