/**
 * Plain-TypeScript references of every merge step, written from ALGORITHMS.md independently of
 * the ONNX code, for one image: tokens `x [N][D]`, sizes, head-mean keys, attention per head.
 */
type Mat = Float64Array[];

/** A step's result: the old-to-new map, new count and merge weights. */
export interface RefPlan {
  assign: number[];
  count: number;
  weight?: number[];
}

function normalize(rows: Mat): Mat {
  return rows.map((r) => {
    const n = Math.sqrt(r.reduce((a, v) => a + v * v, 0));
    return r.map((v) => v / n);
  });
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Indices sorted by descending value (ties: lower index first). */
function descending(values: number[]): number[] {
  return values.map((_, i) => i).sort((a, b) => values[b] - values[a] || a - b);
}

function identity(n: number): RefPlan {
  return { assign: Array.from({ length: n }, (_, i) => i), count: n };
}

/** Survivors (not in `merged`) keep their order after the prefix; merged go to `dest`'s slot. */
function survivors(n: number, merged: Set<number>, dest: Map<number, number>) {
  const slot = new Map<number, number>();
  let next = 0;
  for (let i = 0; i < n; i++) if (!merged.has(i)) slot.set(i, next++);
  return {
    assign: Array.from(
      { length: n },
      (_, i) => merged.has(i) ? slot.get(dest.get(i)!)! : slot.get(i)!,
    ),
    count: next,
  };
}

/** Bipartite matching: A (even) and B (odd), each A's best B score (optionally adjusted). */
function bipartiteRef(keys: Mat, prefix: number, adjust = (_a: number, s: number) => s) {
  const n = keys.length;
  const k = normalize(keys);
  const A: number[] = [], B: number[] = [];
  for (let i = 0; i < n; i++) (i % 2 ? B : A).push(i);
  const best: number[] = [], match: number[] = [];
  for (const a of A) {
    let m = -Infinity, arg = 0;
    B.forEach((b, j) => {
      const s = b < prefix ? -Infinity : dot(k[a], k[b]);
      if (s > m) [m, arg] = [s, j];
    });
    best.push(a < prefix ? -Infinity : adjust(a, m));
    match.push(arg);
  }
  /** The plan merging the `r` best A tokens: official order (kept A, then B). */
  const plan = (r: number, weight?: number[]): RefPlan => {
    const rr = Math.max(0, Math.min(r, Math.floor((n - prefix) / 2)));
    if (rr === 0) return identity(n);
    const merged = new Set(descending(best).slice(0, rr));
    const kept = A.length - rr;
    const assign: number[] = Array(n).fill(-1);
    let pos = 0;
    A.forEach((a, i) => assign[a] = merged.has(i) ? kept + match[i] : pos++);
    B.forEach((b, j) => assign[b] = kept + j);
    return { assign, count: kept + B.length, weight };
  };
  return { best, plan };
}

/** ToMe: bipartite soft matching, official order (kept A, then B). */
export function tomeRef(keys: Mat, r: number, prefix: number): RefPlan {
  return bipartiteRef(keys, prefix).plan(r);
}

/** EViT: keep the top class-attention tokens, fuse the rest into one extra token. */
export function evitRef(attn: Mat[], r: number, prefix: number): RefPlan {
  const n = attn[0].length;
  const rr = Math.max(0, Math.min(r, n - prefix - 1));
  if (rr === 0) return identity(n);
  const a = Array.from(
    { length: n },
    (_, j) => attn.reduce((s, h) => s + h[0][j], 0) / attn.length,
  );
  const order = descending(a.slice(prefix)).map((i) => i + prefix);
  const dropped = new Set(order.slice(n - prefix - rr));
  const assign: number[] = [], weight: number[] = [];
  let pos = 0;
  for (let i = 0; i < n; i++) {
    assign.push(dropped.has(i) ? n - rr : pos++);
    weight.push(dropped.has(i) ? a[i] + 1e-6 : 1);
  }
  return { assign, count: n - rr + 1, weight };
}

/** PiToMe: energy-ranked candidates alternate into A and B; A merges into its closest B. */
export function pitomeRef(keys: Mat, r: number, prefix: number, margin: number): RefPlan {
  const n = keys.length;
  const rr = Math.max(0, Math.min(r, Math.floor((n - prefix) / 2)));
  if (rr === 0) return identity(n);
  const k = normalize(keys.slice(prefix));
  const m = k.length;
  const elu = (x: number) => (x > 0 ? x : Math.exp(x) - 1);
  const energy = k.map((ki) => k.reduce((s, kj) => s + elu(dot(ki, kj) - margin), 0) / m);
  const order = descending(energy);
  const A = order.slice(0, 2 * rr).filter((_, i) => i % 2 === 0);
  const B = order.slice(0, 2 * rr).filter((_, i) => i % 2 === 1);
  const merged = new Set(A.map((i) => i + prefix));
  const dest = new Map<number, number>();
  for (const a of A) {
    let best = -Infinity, arg = -1;
    for (const b of [...B].sort((x, y) => x - y)) {
      const s = dot(k[a], k[b]);
      if (s > best) [best, arg] = [s, b];
    }
    dest.set(a + prefix, arg + prefix);
  }
  return survivors(n, merged, dest);
}

/** Applies a plan: size-weighted averages (weights `w * size`), summed sizes. */
export function applyRef(x: Mat, size: number[], plan: RefPlan) {
  const d = x[0].length;
  const out: Mat = Array.from({ length: plan.count }, () => new Float64Array(d));
  const wsum = Array(plan.count).fill(0), newSize = Array(plan.count).fill(0);
  x.forEach((row, i) => {
    const w = (plan.weight?.[i] ?? 1) * size[i];
    const t = plan.assign[i];
    for (let j = 0; j < d; j++) out[t][j] += w * row[j];
    wsum[t] += w;
    newSize[t] += size[i];
  });
  return { x: out.map((row, t) => row.map((v) => v / wsum[t])), size: newSize };
}

/** SAD-TM: fused importance, the r lowest merge into their most similar other token. */
export function sadtmRef(
  keys: Mat,
  attn: Mat[],
  o: number[],
  r: number,
  prefix: number,
  alpha: number,
  importanceWeight = 1,
): RefPlan {
  const n = keys.length;
  const rr = Math.max(0, Math.min(r, n - prefix - 1));
  const a = Array.from({ length: n }, (_, j) => attn.reduce((s, h) => s + h[0][j], 0) / attn.length)
    .slice(prefix);
  const mm = (v: number[]) => {
    const lo = Math.min(...v), hi = Math.max(...v);
    return v.map((t) => (t - lo) / (hi - lo + 1e-12));
  };
  const an = mm(a), on = mm(o.slice(prefix));
  const m = an.map((v, i) => alpha * v + (1 - alpha) * on[i]);
  const order = m.map((_, i) => i).sort((x, y) => m[x] - m[y] || x - y);
  const merging = new Set(order.slice(0, rr));
  const k = normalize(keys.slice(prefix));
  const dest = new Map<number, number>();
  for (const i of merging) {
    let best = -Infinity, arg = -1;
    for (let j = 0; j < k.length; j++) {
      if (merging.has(j)) continue;
      const s = dot(k[i], k[j]);
      if (s > best) [best, arg] = [s, j];
    }
    dest.set(i + prefix, arg + prefix);
  }
  const plan = survivors(n, new Set([...merging].map((i) => i + prefix)), dest);
  const w = m.map((v) => (rr > 0 ? 1 - importanceWeight + importanceWeight * (v + 1e-6) : 1));
  return { ...plan, weight: [...Array(prefix).fill(1), ...w] };
}

/**
 * AdaMerge for one image: returns how many A scores exceed `theta` (its own choice of r) and
 * the plan for a given `r` (the batch's choice, capped like ToMe).
 */
export function adamergeRef(
  keys: Mat,
  prefix: number,
  theta: number,
  gamma = 0.5,
  salienceWeight = 1,
) {
  const m = normalize(keys.slice(prefix));
  const centrality = m.map((_, j) => m.reduce((s, mi) => s + dot(mi, m[j]), 0) / m.length);
  const lo = Math.min(...centrality), hi = Math.max(...centrality);
  const salience = [
    ...Array(prefix).fill(0),
    ...centrality.map((c) => 1 - (c - lo) / (hi - lo + 1e-12)),
  ];
  const { best, plan } = bipartiteRef(keys, prefix, (a, s) => s * (1 - gamma * salience[a]));
  return {
    count: best.filter((s) => s > theta).length,
    plan: (r: number) => plan(r, salience.map((s) => 1 + salienceWeight * s)),
  };
}
