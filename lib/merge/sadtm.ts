/**
 * SAD-TM: saliency-driven token merging. Importance `m = alpha * a' + (1 - alpha) * o`, each
 * term min-max normalised over the current mergeable tokens, where `a'` is the class attention
 * and `o` the offline saliency outlier prior. The `r` lowest form the merging set; each merges
 * into its most similar (key cosine) remaining token, weighted by `m * size`.
 *
 * `o` of a merged token is the size-weighted mean of its members' `o`, which equals the mean
 * prior over all patches it holds: it is read through the source map, so no extra state is
 * carried. SAD-TM-DM is the same step with merging delayed by `tau` blocks.
 * @module
 */
import { patchCount, patchGrid } from "../checkpoint/config.ts";
import { dims, filled } from "../onnx/ops.ts";
import {
  clampR,
  classAttention,
  descendingRank,
  fewestAbove,
  mergeableKeys,
  minMax,
  sliceTokens,
  survivorAssign,
  tokenCount,
  withPrefixWeight,
} from "./ops.ts";
import { type MergeContext, type MergeMethod, type MergePlan, PriorError } from "./step.ts";

/**
 * Default class-attention weight. 1, i.e. class attention only: on DeiT-Tiny every share given
 * to the saliency prior lowered accuracy, in either orientation (docs/RESULTS.md, section 2).
 */
export const DEFAULT_ALPHA = 1;
/**
 * Default sign of the prior in `m`. The paper merges low `o` first (+1); on DeiT-Tiny low `o`
 * marks the object patches in the image centre, and +1 is far worse than -1 at every alpha < 1.
 */
export const DEFAULT_PRIOR_SIGN = -1;
/** Default share of `m` in the merge weights (1: the paper's `m * size`; 0: `size`). */
export const DEFAULT_IMPORTANCE_WEIGHT = 1;
/** Keeps merge weights positive (the lowest `m` is 0 after min-max). */
const EPS = 1e-6;

/** The prior of each current token: mean over the patches it holds, `[B, M]`. */
function tokenPrior(ctx: MergeContext): string {
  const { g, state } = ctx;
  const prior = g.op("Expand", ["prior", dims(g, state.sourceMap, 0, 2)]);
  const zeros = filled(g, g.op("Shape", [state.size]));
  const sums = g.op("ScatterElements", [zeros, state.sourceMap, prior], {
    axis: 1,
    reduction: "add",
  });
  return sliceTokens(g, g.op("Div", [sums, state.size]), ctx.prefix);
}

function plan(ctx: MergeContext, adaptive: boolean): MergePlan {
  const { g } = ctx;
  const alpha = g.op("Reshape", ["alpha", g.constInt([1])]);
  const beta = g.op("Sub", [g.constFloat(1), alpha]);
  const m = g.op("Add", [
    g.op("Mul", [alpha, minMax(g, classAttention(ctx))]),
    g.op("Mul", [beta, minMax(g, tokenPrior(ctx))]),
  ]);
  const n = tokenCount(ctx);
  let r = clampR(ctx, g.op("Sub", [n, g.constInt([ctx.prefix + 1])]));
  if (adaptive) {
    // AdaMerge-style count: tokens whose importance is below -theta (the batch takes the fewest).
    const theta = g.op("Reshape", ["theta", g.constInt([1])]);
    r = g.op("Min", [r, fewestAbove(g, g.op("Neg", [m]), theta)]);
  }
  const merging = g.op("Less", [descendingRank(g, g.op("Neg", [m])), r]);
  // Destinations: the most similar token outside the merging set.
  const k = mergeableKeys(ctx);
  const sim = g.op("MatMul", [k, g.op("Transpose", [k], { perm: [0, 2, 1] })]);
  const closed = g.op("Where", [
    g.op("Unsqueeze", [merging, g.constInt([1])]),
    g.constFloat(-Infinity),
    g.constFloat(0),
  ]);
  const dest = g.op("ArgMax", [g.op("Add", [sim, closed])], { axis: -1, keepdims: 0 });
  // Weights of 1 when nothing merges keep r = 0 bit-exact (x * w / w is not, in float32).
  const weight = g.op("Where", [
    g.op("Greater", [r, g.constInt([0])]),
    // importance_weight 1: the paper's m * size; 0: size only (ToMe-style averages).
    g.op("Add", [
      g.op("Sub", [g.constFloat(1), "importance_weight"]),
      g.op("Mul", ["importance_weight", g.op("Add", [m, g.constFloat(EPS)])]),
    ]),
    g.constFloat(1),
  ]);
  return {
    assign: survivorAssign(ctx, merging, dest),
    count: g.op("Sub", [n, r]),
    weight: withPrefixWeight(ctx, weight),
  };
}

function sadtmMethod(name: string, delayed: boolean, adaptive = false): MergeMethod {
  return {
    name,
    plan: (ctx) => plan(ctx, adaptive),
    delayed,
    adaptive,
    nextCount: (n, r, prefix) => n - Math.max(0, Math.min(r, n - prefix - 1)),
    matchMacs: (n, r, c, prefix) => (r > 0 ? (n - prefix) ** 2 * c : 0),
    inputs: (config) => [
      { name: "prior", dtype: "float32", dims: [patchCount(config)] },
      { name: "alpha", dtype: "float32", dims: [1] },
      { name: "importance_weight", dtype: "float32", dims: [1] },
      ...(adaptive ? [{ name: "theta", dtype: "float32" as const, dims: [1] }] : []),
    ],
    prepare(config, options) {
      const grid = patchGrid(config).join("x");
      const prior = options.prior;
      if (!prior) {
        throw new PriorError(
          `${name} needs a saliency prior for ${config.name} (grid ${grid}); compute one ` +
            `with "deno task priors --model DIR --images DIR"`,
        );
      }
      if (prior.grid.join("x") !== grid) {
        throw new PriorError(
          `prior of ${prior.model} has grid ${prior.grid.join("x")}, model ${grid}`,
        );
      }
      return Promise.resolve({
        feeds: {
          prior: {
            data: Float32Array.from(
              prior.vector,
              (v) => v * (options.priorSign ?? DEFAULT_PRIOR_SIGN),
            ),
            dims: [prior.vector.length],
          },
          alpha: { data: new Float32Array([options.alpha ?? DEFAULT_ALPHA]), dims: [1] },
          importance_weight: {
            data: new Float32Array([options.importanceWeight ?? DEFAULT_IMPORTANCE_WEIGHT]),
            dims: [1],
          },
          ...(adaptive && {
            theta: { data: new Float32Array([options.theta ?? -0.2]), dims: [1] },
          }),
        },
        suggestedTau: prior.suggestedTau,
      });
    },
  };
}

/** SAD-TM. */
export const sadtm: MergeMethod = sadtmMethod("sadtm", false);
/** SAD-TM with delayed merging. */
export const sadtmDm: MergeMethod = sadtmMethod("sadtm-dm", true);
/**
 * Experiment: SAD-TM-DM's criterion with AdaMerge's adaptive counts (`r_l` = tokens whose
 * importance `m` is below `-theta`, at most `r_max`).
 */
export const sadtmAda: MergeMethod = sadtmMethod("sadtm-ada", true, true);
