/**
 * How long things take on this machine, learnt from what runs measured: a linear model of a
 * segment of blocks (ms per GMAC, per block, per merging block, for the embedding and for the
 * head) fitted by least squares to recent segments, decode as ms per megapixel plus a base, and
 * the server's own overhead. Predictions are medians; tails come from the recent ratios of
 * actual to predicted time (`factor(q)`), so the middle stays right and the tail honest. Runs
 * that waited for a session start are not samples.
 * @module
 */

/** The parts of a run a timing depends on. */
export interface SegmentFeatures {
  /** GMACs of the blocks run (without embedding and head). */
  gmacs: number;
  blocks: number;
  /** Blocks that merged (ran the merge step). */
  merging: number;
  /** The segment embedded the image / ran the head. */
  embed: boolean;
  head: boolean;
  /** Session runs (one per segment: each costs a call and the state's copies). */
  runs: number;
}

/** A measured segment. */
export interface SegmentSample extends SegmentFeatures {
  ms: number;
}

/** Samples kept for fitting and for the tail ratios. */
const WINDOW = 400;
/** Refit after this many new samples. */
const REFIT_EVERY = 8;
/** Ratios needed before the tail comes from data (until then, `PRIOR_FACTOR`). */
const MIN_RATIOS = 20;
/** The tail factor assumed before enough ratios were seen. */
const PRIOR_FACTOR = 1.5;

/** The last `size` values. */
export class Window {
  #values: number[] = [];
  #next = 0;
  constructor(readonly size: number) {}
  get count(): number {
    return this.#values.length;
  }
  /** The values sorted, kept until the next `add` (planning asks for many quantiles). */
  #sorted?: number[];
  add(x: number): void {
    if (this.#values.length < this.size) this.#values.push(x);
    else this.#values[this.#next] = x;
    this.#next = (this.#next + 1) % this.size;
    this.#sorted = undefined;
  }
  /** The `q`-quantile (nearest rank, rounded up); undefined when empty. */
  quantile(q: number): number | undefined {
    if (this.#values.length === 0) return undefined;
    const sorted = this.#sorted ??= [...this.#values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  }
}

const featureVector = (f: SegmentFeatures) => [
  f.gmacs,
  f.blocks,
  f.merging,
  f.embed ? 1 : 0,
  f.head ? 1 : 0,
  f.runs,
];

/** Median time of segments with features `f` under coefficients `coef` (see `TimingModel`). */
export function segmentMs(coef: readonly number[], f: SegmentFeatures): number {
  return featureVector(f).reduce((s, x, i) => s + x * coef[i], 0);
}

/**
 * Least squares with a small ridge towards `prior` over the `active` features (the others are
 * 0), solved by Gaussian elimination; undefined when singular.
 */
function solve(
  samples: SegmentSample[],
  prior: number[],
  ridge: number,
  active: boolean[],
): number[] | undefined {
  const idx = active.flatMap((on, i) => on ? [i] : []);
  const k = idx.length;
  const a = idx.map((_, i) => idx.map((_, j) => i === j ? ridge : 0));
  const b = idx.map((f) => ridge * prior[f]);
  for (const s of samples) {
    const x = featureVector(s);
    for (let i = 0; i < k; i++) {
      b[i] += x[idx[i]] * s.ms;
      for (let j = 0; j < k; j++) a[i][j] += x[idx[i]] * x[idx[j]];
    }
  }
  for (let c = 0; c < k; c++) {
    let pivot = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(a[r][c]) > Math.abs(a[pivot][c])) pivot = r;
    [a[c], a[pivot]] = [a[pivot], a[c]];
    [b[c], b[pivot]] = [b[pivot], b[c]];
    if (Math.abs(a[c][c]) < 1e-12) return undefined;
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = a[r][c] / a[c][c];
      for (let j = c; j < k; j++) a[r][j] -= f * a[c][j];
      b[r] -= f * b[c];
    }
  }
  const coef = prior.map(() => 0);
  idx.forEach((f, i) => coef[f] = b[i] / a[i][i]);
  return coef;
}

/**
 * Non-negative ridge least squares: a cost cannot be negative, so the most negative coefficient
 * is fixed at 0 and the rest refitted until none is (a clamp without refitting would leave the
 * others fitted around a negative cost).
 */
function fit(samples: SegmentSample[], prior: number[], ridge: number): number[] {
  const active = prior.map(() => true);
  for (;;) {
    const coef = solve(samples, prior, ridge, active);
    if (!coef) return prior;
    let worst = -1;
    coef.forEach((c, i) => {
      if (active[i] && c < 0 && (worst < 0 || c < coef[worst])) worst = i;
    });
    if (worst < 0) return coef;
    active[worst] = false;
  }
}

/** Share of samples trimmed at each end (by actual/predicted) before the final fit. */
const TRIM = [0.1, 0.25];

/**
 * A fit of the typical run: least squares, then again without the samples whose actual/predicted
 * ratio is in the fastest 10 % or the slowest 25 % (a noisy neighbour's runs would otherwise
 * pull every prediction up; the tail factor accounts for them).
 */
function robustFit(samples: SegmentSample[], prior: number[]): number[] {
  const ridge = (n: number) => 1e-3 * n + 1e-6;
  const first = fit(samples, prior, ridge(samples.length));
  if (samples.length < 2 * REFIT_EVERY) return first;
  const ratios = samples.map((s) => s.ms / Math.max(1e-6, segmentMs(first, s)));
  const sorted = [...ratios].sort((a, b) => a - b);
  const lo = sorted[Math.floor(TRIM[0] * sorted.length)];
  const hi = sorted[Math.ceil((1 - TRIM[1]) * sorted.length) - 1];
  const kept = samples.filter((_, i) => ratios[i] >= lo && ratios[i] <= hi);
  return fit(kept, first, ridge(kept.length));
}

/** The timing of one backend. */
export class TimingModel {
  /** ms per GMAC, per block, per merging block, for the embedding, for the head, per run. */
  #coef: number[];
  #samples: SegmentSample[] = [];
  #sinceFit = 0;
  #ratios = new Window(WINDOW);
  #decode: { mp: number; ms: number }[] = [];
  #decodeCoef = [2, 20];
  #decodeRatios = new Window(WINDOW);
  #overhead = new Window(WINDOW);

  /** `prior`: a first guess of the segment coefficients (see `#coef`). */
  constructor(readonly backend: string, prior: number[] = [40, 0.3, 0.2, 1, 0.3, 0.3]) {
    this.#coef = [...prior];
  }

  /** Segments seen. */
  get observations(): number {
    return this.#samples.length;
  }

  /** The fitted coefficients (for reports and the worker's in-flight planning). */
  get coefficients(): readonly number[] {
    return this.#coef;
  }

  /** Median time of a segment (or several: features add up). */
  segment(f: SegmentFeatures): number {
    return segmentMs(this.#coef, f);
  }

  /** Actual / predicted time: its `q`-quantile (a multiplier for the tail; >= 1 for q >= 0.5). */
  factor(q: number): number {
    if (this.#ratios.count < MIN_RATIOS) return q <= 0.5 ? 1 : PRIOR_FACTOR;
    return this.#ratios.quantile(q)!;
  }

  /** `ratioQuantiles` as last computed, until the next ratio (every plan model asks). */
  #quantiles?: { n: number; values: readonly number[] };

  /**
   * `n` evenly spaced quantiles of actual/predicted time, ascending; empty until enough were
   * seen.
   */
  ratioQuantiles(n = 32): readonly number[] {
    if (this.#ratios.count < MIN_RATIOS) return [];
    if (this.#quantiles?.n !== n) {
      const values = Array.from({ length: n }, (_, i) => this.#ratios.quantile((i + 0.5) / n)!);
      this.#quantiles = { n, values };
    }
    return this.#quantiles.values;
  }

  /** Learns from a measured segment. */
  observeSegment(s: SegmentSample): void {
    const predicted = this.segment(s);
    if (this.#samples.length >= 2 * REFIT_EVERY && predicted > 0) {
      this.#ratios.add(s.ms / predicted);
      this.#quantiles = undefined;
    }
    this.#samples.push(s);
    if (this.#samples.length > WINDOW) this.#samples.shift();
    if (++this.#sinceFit >= REFIT_EVERY || this.#samples.length <= REFIT_EVERY) {
      this.#sinceFit = 0;
      this.#coef = robustFit(this.#samples, this.#coef);
    }
  }

  /** Median decode time of an image of `pixels`. */
  decode(pixels: number): number {
    return this.#decodeCoef[0] + this.#decodeCoef[1] * (pixels / 1e6);
  }

  /** Decode time at its `q`-quantile. */
  decodeAt(pixels: number, q: number): number {
    const f = this.#decodeRatios.count < MIN_RATIOS
      ? PRIOR_FACTOR
      : this.#decodeRatios.quantile(q)!;
    return this.decode(pixels) * Math.max(1, f);
  }

  /** Learns from a measured decode. */
  observeDecode(pixels: number, ms: number): void {
    const mp = pixels / 1e6;
    if (this.#decode.length >= 4) this.#decodeRatios.add(ms / Math.max(0.01, this.decode(pixels)));
    this.#decode.push({ mp, ms });
    if (this.#decode.length > WINDOW) this.#decode.shift();
    // ms = base + perMp * mp, least squares.
    const n = this.#decode.length;
    const mx = this.#decode.reduce((s, d) => s + d.mp, 0) / n;
    const my = this.#decode.reduce((s, d) => s + d.ms, 0) / n;
    const sxx = this.#decode.reduce((s, d) => s + (d.mp - mx) ** 2, 0);
    const sxy = this.#decode.reduce((s, d) => s + (d.mp - mx) * (d.ms - my), 0);
    const perMp = sxx > 1e-9 ? Math.max(0, sxy / sxx) : this.#decodeCoef[1];
    this.#decodeCoef = [Math.max(0, my - perMp * mx), perMp];
  }

  /** What the server adds to a run (messages, HTTP, serialisation), at its `q`-quantile. */
  overhead(q: number): number {
    return this.#overhead.quantile(q) ?? 3;
  }

  /** Learns a request's overhead. */
  observeOverhead(ms: number): void {
    this.#overhead.add(Math.max(0, ms));
  }
}
