/**
 * AdaMerge, as ALGORITHMS.md reads the public summary. Salience from column-wise affinity
 * centrality (`sigma = 1 - minmax(mean_i A_ij)`, hubs are redundant); ToMe's bipartite matching
 * with each A token's score damped by its salience (`S * (1 - gamma * sigma)`) and merge weights
 * `size * (1 + sigma)`; and a data-dependent `r`: `min(r_max, #{a : score_a > theta})`, decided
 * in the graph (`theta` is an input, `r [L]` carries `r_max`).
 *
 * Batches: every image computes its own count, and the batch merges the smallest of them in
 * each block (tensors are not ragged). At batch 1 this is exactly per-image adaptive; the eval
 * and the service run adaptive methods at batch 1.
 * @module
 */
import { bipartite, bipartiteMaxR } from "./bipartite.ts";
import { fewestAbove, mergeableKeys, minMax, withPrefixValue } from "./ops.ts";
import type { MergeContext, MergeMethod, MergePlan } from "./step.ts";

/** Salience damping of the scores (below 1 so protected `-inf` scores stay `-inf`). */
export const GAMMA = 0.5;
/** Threshold used when none is given or calibrated. */
export const DEFAULT_THETA = 0.8;

function plan(ctx: MergeContext): MergePlan {
  const { g } = ctx;
  const k = mergeableKeys(ctx);
  const affinity = g.op("MatMul", [k, g.op("Transpose", [k], { perm: [0, 2, 1] })]);
  const centrality = g.op("ReduceMean", [affinity], { axes: [1], keepdims: 0 });
  const salience = g.op("Sub", [g.constFloat(1), minMax(g, centrality)]);
  const theta = g.op("Reshape", ["theta", g.constInt([1])]);
  return bipartite(ctx, {
    adjust: (best, inA) =>
      g.op("Mul", [
        best,
        g.op("Sub", [g.constFloat(1), g.op("Mul", [inA(salience), g.constFloat(GAMMA)])]),
      ]),
    chooseR: (best, requested) => g.op("Min", [requested, fewestAbove(g, best, theta)]),
    weight: withPrefixValue(ctx, g.op("Add", [salience, g.constFloat(1)]), 1),
  });
}

/** AdaMerge as a merge method (`r` in the schedule is `r_max`). */
export const adamerge: MergeMethod = {
  name: "adamerge",
  plan,
  adaptive: true,
  maxR: bipartiteMaxR,
  nextCount: (n, r) => n - r,
  matchMacs: (n, r, c, prefix) =>
    r > 0 ? (n - prefix) ** 2 * c + Math.ceil(n / 2) * Math.floor(n / 2) * c : 0,
  inputs: () => [{ name: "theta", dtype: "float32", dims: [1] }],
  prepare: (_config, options) =>
    Promise.resolve({
      feeds: { theta: { data: new Float32Array([options.theta ?? DEFAULT_THETA]), dims: [1] } },
    }),
};
