/**
 * EViT, training-free: keep the class token and the `N - prefix - r` tokens with the highest
 * class attention (in their original order); fuse the `r` dropped tokens into one extra token
 * at the end, their class-attention-weighted average.
 * @module
 */
import { dim, filled, sliceAxis } from "../onnx/ops.ts";
import {
  classAttention,
  descendingOrder,
  descendingRank,
  survivorTargets,
  withPrefixValue,
} from "./ops.ts";
import {
  allButOneMaxR,
  type MergeContext,
  type MergeMethod,
  type MergePlan,
  type MergeTargets,
} from "./step.ts";

/** Keeps fused weights positive when class attention underflows. */
const EPS = 1e-6;

function plan(ctx: MergeContext): MergePlan {
  return { r: ctx.r, targets: () => targets(ctx) };
}

function targets(ctx: MergeContext): MergeTargets {
  const { g, r } = ctx;
  const attention = classAttention(ctx);
  const order = descendingOrder(g, attention);
  const keptCount = g.op("Sub", [dim(g, order, 1), r]);
  const dropped = g.op("Not", [g.op("Less", [descendingRank(g, order), keptCount])]);
  const weight = g.op("Where", [
    dropped,
    g.op("Add", [attention, g.constFloat(EPS)]),
    filled(g, g.op("Shape", [attention]), 1),
  ]);
  return survivorTargets(
    ctx,
    sliceAxis(g, order, 1, 0, keptCount),
    sliceAxis(g, order, 1, keptCount),
    () => "fused",
    withPrefixValue(ctx, weight, 1),
  );
}

/** EViT as a merge method. */
export const evit: MergeMethod = {
  name: "evit",
  plan,
  maxR: allButOneMaxR,
  nextCount: (n, r) => n - r + Math.min(r, 1),
  matchMacs: (n, r) => (r > 0 ? n * Math.log2(n) : 0),
};
