/**
 * EViT, training-free: keep the class token and the `N - prefix - r` tokens with the highest
 * class attention (in their original order); fuse the `r` dropped tokens into one extra token
 * at the end, their class-attention-weighted average.
 * @module
 */
import {
  clampR,
  classAttention,
  descendingRank,
  survivorPosition,
  tokenCount,
  withPrefix,
  withPrefixWeight,
} from "./ops.ts";
import { filled } from "../onnx/ops.ts";
import type { MergeContext, MergeMethod, MergePlan } from "./step.ts";

/** Keeps fused weights positive when class attention underflows. */
const EPS = 1e-6;

function plan(ctx: MergeContext): MergePlan {
  const { g, prefix } = ctx;
  const attention = classAttention(ctx);
  const n = tokenCount(ctx);
  const r = clampR(ctx, g.op("Sub", [n, g.constInt([prefix + 1])]));
  const kept = g.op("Sub", [n, g.op("Add", [r, g.constInt([prefix])])]);
  const dropped = g.op("Not", [g.op("Less", [descendingRank(g, attention), kept])]);
  const slot = g.op("Where", [
    dropped,
    g.op("Sub", [n, r]),
    g.op("Add", [survivorPosition(g, g.op("Not", [dropped])), g.constInt(prefix)]),
  ]);
  const ones = filled(g, g.op("Shape", [attention]), 1);
  const weight = g.op("Where", [dropped, g.op("Add", [attention, g.constFloat(EPS)]), ones]);
  const fused = g.op("Min", [r, g.constInt([1])]);
  return {
    assign: withPrefix(ctx, slot),
    count: g.op("Add", [g.op("Sub", [n, r]), fused]),
    weight: withPrefixWeight(ctx, weight),
  };
}

/** EViT as a merge method. */
export const evit: MergeMethod = {
  name: "evit",
  plan,
  nextCount: (n, r, prefix) => {
    const k = Math.max(0, Math.min(r, n - prefix - 1));
    return n - k + Math.min(k, 1);
  },
  matchMacs: (n, r) => (r > 0 ? n * Math.log2(n) : 0),
};
