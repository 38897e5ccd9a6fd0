/**
 * SAD-TM: saliency-driven token merging. Importance `m = alpha * a' + (1 - alpha) * o`, each
 * term min-max normalised over the current mergeable tokens, where `a'` is the class attention
 * and `o` the offline saliency outlier prior. The `r` lowest form the merging set; each merges
 * into its most similar (key cosine) remaining token, weighted by `m * size`.
 *
 * `o` of a merged token is the size-weighted mean of its members' `o`, which equals the mean
 * prior over all patches it holds: each token carries the sum of its patches' prior, merged like
 * its size. SAD-TM-DM is the same step with merging delayed by `tau` blocks.
 * @module
 */
import { patchCount, patchGrid, type ViTConfig } from "../checkpoint/config.ts";
import type { GraphBuilder } from "../onnx/builder.ts";
import { bilinear, cast, dim, dims, sliceAxis } from "../onnx/ops.ts";
import {
  classAttention,
  descendingOrder,
  descendingRank,
  fewestAbove,
  gatherRows,
  mergeableKeys,
  minMax,
  sliceTokens,
  survivorPosition,
  survivorTargets,
  withPrefixValue,
} from "./ops.ts";
import {
  allButOneMaxR,
  allPairsMacs,
  type MergeContext,
  type MergeMethod,
  type MergePlan,
  type MergeTargets,
  PriorError,
} from "./step.ts";

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
/**
 * SAD-TM-Ada's threshold when none is given: a block merges its tokens whose importance `m` is
 * below `-theta` (`m` is min-max scaled to [0, 1], so AdaMerge's 0.8 would merge none).
 */
export const DEFAULT_ADA_THETA = -0.2;
/** Keeps merge weights positive (the lowest `m` is 0 after min-max). */
const EPS = 1e-6;

/** The prior of each mergeable token: its carried prior sum over its size, `[B, M]`. */
function tokenPrior(ctx: MergeContext): string {
  const { g, state, prefix } = ctx;
  return sliceTokens(g, g.op("Div", [state.sums.prior, state.size]), prefix);
}

function plan(ctx: MergeContext, adaptive: boolean): MergePlan {
  const { g } = ctx;
  const alpha = g.op("Reshape", ["alpha", g.constInt([1])]);
  const beta = g.op("Sub", [g.constFloat(1), alpha]);
  const m = g.op("Add", [
    g.op("Mul", [alpha, minMax(g, classAttention(ctx))]),
    g.op("Mul", [beta, minMax(g, tokenPrior(ctx))]),
  ]);
  let r = ctx.r;
  if (adaptive) {
    // AdaMerge-style count: tokens whose importance is below -theta (the batch takes the fewest).
    const theta = g.op("Reshape", ["theta", g.constInt([1])]);
    r = g.op("Min", [r, fewestAbove(g, g.op("Neg", [m]), theta)]);
  }
  return { r, targets: () => targets(ctx, m, r) };
}

/** The `r` least important tokens merge into their most similar remaining token. */
function targets(ctx: MergeContext, m: string, r: string): MergeTargets {
  const { g } = ctx;
  const order = descendingOrder(g, g.op("Neg", [m]));
  const merging = g.op("Less", [descendingRank(g, order), r]);
  // importance_weight 1: the paper's m * size; 0: size only (ToMe-style averages).
  const weight = g.op("Add", [
    g.op("Sub", [g.constFloat(1), "importance_weight"]),
    g.op("Mul", ["importance_weight", g.op("Add", [m, g.constFloat(EPS)])]),
  ]);
  const slot = survivorPosition(g, g.op("Not", [merging]));
  const k = mergeableKeys(ctx);
  return survivorTargets(
    ctx,
    sliceAxis(g, order, 1, r),
    sliceAxis(g, order, 1, 0, r),
    (merged) => {
      // Destinations: the most similar token outside the merging set.
      const sim = g.op("MatMul", [
        gatherRows(g, k, merged),
        g.op("Transpose", [k], { perm: [0, 2, 1] }),
      ]);
      const closed = g.op("Where", [
        g.op("Unsqueeze", [merging, g.constInt([1])]),
        g.constFloat(-Infinity),
        g.constFloat(0),
      ]);
      const dest = g.op("ArgMax", [g.op("Add", [sim, closed])], { axis: -1, keepdims: 0 });
      return g.op("GatherElements", [slot, dest], { axis: 1 });
    },
    withPrefixValue(ctx, weight, 1),
  );
}

/**
 * The `prior` input on the patches of `tokens`: as given at the model's own resolution, else
 * its grid resampled bilinearly to the fewer patches of a lower one.
 */
function priorOnGrid(g: GraphBuilder, tokens: string, config: ViTConfig): string {
  const [rows, cols] = patchGrid(config);
  const patches = g.op("Sub", [dim(g, tokens, 1), g.constInt([config.prefixTokens])]);
  const own = g.op("Equal", [patches, g.constInt([rows * cols])]);
  return g.ifElse(g.op("Squeeze", [own, g.constInt([0])]), ["float32"], () => ["prior"], () => {
    // A square grid: its side is the square root of the patch count.
    const side = cast(g, g.op("Sqrt", [cast(g, patches, "float32")]), "int64");
    const grid = g.op("Reshape", ["prior", g.constInt([1, 1, rows, cols])]);
    const sizes = g.op("Concat", [g.constInt([1, 1]), side, side], { axis: 0 });
    return [g.op("Reshape", [bilinear(g, grid, sizes), g.constInt([-1])])];
  })[0];
}

/** The two steps: SAD-TM and SAD-TM-DM share the fixed one (a shared graph emits it once). */
const fixedStep = (ctx: MergeContext) => plan(ctx, false);
const adaptiveStep = (ctx: MergeContext) => plan(ctx, true);

function sadtmMethod(name: string, delayed: boolean, adaptive = false): MergeMethod {
  return {
    name,
    plan: adaptive ? adaptiveStep : fixedStep,
    delayed,
    adaptive,
    maxR: allButOneMaxR,
    nextCount: (n, r) => n - r,
    sums: {
      // The prior summed over each token's patches (none for the prefix).
      prior: (g, tokens, config) =>
        g.op("Expand", [
          g.op("Concat", [
            g.constFloat(Array(config.prefixTokens).fill(0)),
            priorOnGrid(g, tokens, config),
          ], { axis: 0 }),
          dims(g, tokens, 0, 2),
        ]),
    },
    matchMacs: allPairsMacs,
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
      const own = prior.settings?.[name] ?? {};
      const sign = options.priorSign ?? own.priorSign ?? DEFAULT_PRIOR_SIGN;
      return Promise.resolve({
        feeds: {
          prior: {
            data: Float32Array.from(prior.vector, (v) => v * sign),
            dims: [prior.vector.length],
          },
          alpha: {
            data: new Float32Array([options.alpha ?? own.alpha ?? DEFAULT_ALPHA]),
            dims: [1],
          },
          importance_weight: {
            data: new Float32Array([options.importanceWeight ?? DEFAULT_IMPORTANCE_WEIGHT]),
            dims: [1],
          },
          ...(adaptive && {
            theta: { data: new Float32Array([options.theta ?? DEFAULT_ADA_THETA]), dims: [1] },
          }),
        },
        suggestedTau: own.tau ?? prior.suggestedTau,
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
