/**
 * AdaMerge, as ALGORITHMS.md reads the public summary. Salience from column-wise affinity
 * centrality (`sigma = 1 - minmax(mean_i A_ij)`, hubs are redundant); ToMe's bipartite matching
 * with each A token's score damped by its salience (`S * (1 - gamma * sigma)`) and merge weights
 * `size * (1 + sigma)`; and a data-dependent `r`: `min(r_max, #{a : score_a > theta})`, decided
 * in the graph (`theta` is an input, `r [L]` carries `r_max`). The damping `gamma` and the
 * salience's share of the merge weights are inputs too, so that each part can be switched off
 * (docs/RESULTS.md, the AdaMerge ablation).
 *
 * Batches: every image computes its own count, and the batch merges the smallest of them in
 * each block (tensors are not ragged). At batch 1 this is exactly per-image adaptive; the eval
 * and the service run adaptive methods at batch 1.
 * @module
 */
import { bipartite, bipartiteMacs, bipartiteMaxR } from "./bipartite.ts";
import { fewestAbove, mergeableKeys, minMax, withPrefixValue } from "./ops.ts";
import { allPairsMacs, type MergeContext, type MergeMethod, type MergePlan } from "./step.ts";

/** Salience damping of the scores (below 1, so that damping never zeroes or flips a score). */
export const DEFAULT_GAMMA = 0.5;
/** Share of salience in the merge weights: `size * (1 + w * sigma)`. */
export const DEFAULT_SALIENCE_WEIGHT = 1;
/** Threshold used when none is given or calibrated. */
export const DEFAULT_THETA = 0.8;
/** The ceiling `r_max` is the schedule of this multiple of the target reduction. */
export const DEFAULT_CEILING = 1.5;

const scalar = (name: string) => ({ name, dtype: "float32" as const, dims: [1] });
const feed = (v: number) => ({ data: new Float32Array([v]), dims: [1] });

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
        g.op("Sub", [g.constFloat(1), g.op("Mul", [inA(salience), "gamma"])]),
      ]),
    chooseR: (best, requested) => g.op("Min", [requested, fewestAbove(g, best, theta)]),
    weight: withPrefixValue(
      ctx,
      g.op("Add", [g.op("Mul", [salience, "salience_weight"]), g.constFloat(1)]),
      1,
    ),
  });
}

/** AdaMerge as a merge method (`r` in the schedule is `r_max`). */
export const adamerge: MergeMethod = {
  name: "adamerge",
  plan,
  adaptive: true,
  maxR: bipartiteMaxR,
  nextCount: (n, r) => n - r,
  // Salience from all pairs, then ToMe's matching.
  matchMacs: (n, r, c, prefix) => allPairsMacs(n, r, c, prefix) + bipartiteMacs(n, r, c),
  inputs: () => [scalar("theta"), scalar("gamma"), scalar("salience_weight")],
  prepare: (_config, options) => {
    // The model's own settings, where its prior records them (docs/RESULTS.md, section 4).
    const own = options.prior?.settings?.adamerge ?? {};
    return Promise.resolve({
      feeds: {
        theta: feed(options.theta ?? DEFAULT_THETA),
        gamma: feed(options.gamma ?? own.gamma ?? DEFAULT_GAMMA),
        salience_weight: feed(
          options.salienceWeight ?? own.salienceWeight ?? DEFAULT_SALIENCE_WEIGHT,
        ),
      },
    });
  },
};
