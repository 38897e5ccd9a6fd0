/**
 * Cost accounting in multiply-accumulates (timm's "GMACs"), from ALGORITHMS.md: per block
 * `4 N D^2 + 2 N^2 D + 2 mlp_ratio N' D^2` with `N` tokens in attention and `N'` in the MLP,
 * plus the patch embedding and the head.
 * @module
 */
import { patchCount, type ViTConfig } from "../checkpoint/config.ts";

/**
 * GMACs per image for a run whose token counts are `tokens` (`tokens[l]` entering block `l`,
 * `tokens[L]` leaving the last block, as the graph's `tokens` output reports them).
 */
export function gmacs(config: ViTConfig, tokens: ArrayLike<number>): number {
  const { depth } = config;
  if (tokens.length !== depth + 1) {
    throw new Error(`tokens has ${tokens.length} entries, expected ${depth + 1}`);
  }
  let total = endsGmacs(config);
  for (let l = 0; l < depth; l++) total += blockGmacs(config, tokens[l], tokens[l + 1]);
  return total;
}

/** GMACs of one block with `n` tokens in attention and `next` in the MLP. */
export function blockGmacs(config: ViTConfig, n: number, next: number): number {
  const { embedDim: d, mlpRatio } = config;
  return (4 * n * d * d + 2 * n * n * d + 2 * mlpRatio * next * d * d) / 1e9;
}

/** GMACs of the patch embedding and the head. */
export function endsGmacs(config: ViTConfig): number {
  const { embedDim: d, patchSize: p, numClasses } = config;
  return (patchCount(config) * d * 3 * p * p + d * numClasses) / 1e9;
}
