/**
 * Paired accuracy metrics of a merged run against labels and against the unmerged run.
 * @module
 */

/** Log-softmax in float64. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const lse = max + Math.log(sum);
  return Float64Array.from({ length: logits.length }, (_, i) => logits[i] - lse);
}

/** KL(p || q) for logits `p` (reference) and `q`. */
export function klDivergence(p: ArrayLike<number>, q: ArrayLike<number>): number {
  const lp = logSoftmax(p), lq = logSoftmax(q);
  let kl = 0;
  for (let i = 0; i < lp.length; i++) kl += Math.exp(lp[i]) * (lp[i] - lq[i]);
  return kl;
}

/** Indices of the `k` largest values, largest first. */
export function topIndices(values: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: values.length }, (_, i) => i)
    .sort((a, b) => values[b] - values[a])
    .slice(0, k);
}

/** Metrics of one evaluated setting (fractions, not percent). */
export interface PairedMetrics {
  top1: number;
  top5: number;
  agreeTop1: number;
  kl: number;
  n: number;
}

/** Top-1/top-5 against `labels`, top-1 agreement and mean KL against the `reference` logits. */
export function pairedMetrics(
  logits: ArrayLike<number>[],
  reference: ArrayLike<number>[],
  labels: number[],
): PairedMetrics {
  let top1 = 0, top5 = 0, agree = 0, kl = 0;
  logits.forEach((l, i) => {
    const top = topIndices(l, 5);
    if (top[0] === labels[i]) top1++;
    if (top.includes(labels[i])) top5++;
    if (top[0] === topIndices(reference[i], 1)[0]) agree++;
    kl += klDivergence(reference[i], l);
  });
  const n = logits.length;
  return { top1: top1 / n, top5: top5 / n, agreeTop1: agree / n, kl: kl / n, n };
}
