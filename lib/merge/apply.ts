/**
 * The merging itself, shared by every method: given a `MergePlan` (the new slot of each token),
 * combine tokens by size-weighted average (scatter-add of weighted features and of weights,
 * then divide), add up sizes, and move the source map through the old-to-new index map.
 * With the identity plan (`r = 0`) every value passes through bit-exactly.
 * @module
 */
import { dim, filled } from "../onnx/ops.ts";
import type { MergeContext, MergePlan, TokenState } from "./step.ts";

/** Emits the merge described by `plan` and returns the new token state. */
export function applyPlan(ctx: MergeContext, plan: MergePlan): TokenState {
  const { g, state } = ctx;
  const shape = g.op("Shape", [state.x]);
  const batch = dim(g, state.x, 0);
  const width = dim(g, state.x, 2);
  const zeros = (parts: string[]) => filled(g, g.op("Concat", parts, { axis: 0 }));

  const weight = plan.weight ? g.op("Mul", [plan.weight, state.size]) : state.size;
  const addInto = (target: string, index: string, updates: string) =>
    g.op("ScatterElements", [target, index, updates], { axis: 1, reduction: "add" });

  const weightSum = addInto(zeros([batch, plan.count]), plan.assign, weight);
  const index3 = g.op("Expand", [g.op("Unsqueeze", [plan.assign, g.constInt([2])]), shape]);
  const weighted = g.op("Mul", [state.x, g.op("Unsqueeze", [weight, g.constInt([2])])]);
  const featureSum = addInto(zeros([batch, plan.count, width]), index3, weighted);
  return {
    x: g.op("Div", [featureSum, g.op("Unsqueeze", [weightSum, g.constInt([2])])]),
    size: plan.weight ? addInto(zeros([batch, plan.count]), plan.assign, state.size) : weightSum,
    sourceMap: g.op("GatherElements", [plan.assign, state.sourceMap], { axis: 1 }),
  };
}
