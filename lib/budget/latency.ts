/**
 * The latency cost model of one backend: what decode, queueing and inference at each operating
 * point will take, learnt from observed timings (a calibration at start, then every answered
 * request). Each quantity is a running mean and spread (exponentially weighted, so it follows
 * load changes). The upper bound decisions use starts from per-component bounds (mean + z *
 * spread each, combined as independent parts) and is then rescaled from how answers actually fell: a split-conformal
 * step over the recent normalised errors, so that about `COVERAGE` of answers land under it
 * whatever the components got wrong (queueing, HTTP, a noisy neighbour).
 * @module
 */
import type { Backlog, Estimate } from "../runtime/jobs.ts";
import { type OperatingPoint, pointKey } from "./points.ts";

/** z of the upper bound (about the 99th percentile of a normal spread). */
export const UPPER_Z = 2.33;
/** Weight of a new observation once a statistic has this many (earlier ones average). */
const WINDOW = 20;
/** Observations a point needs before its own statistic replaces the GMACs-proportional guess. */
const MIN_OWN = 3;
/** Decode cost is modelled per megapixel plus this much (fixed per-image work). */
const DECODE_BASE_MP = 0.1;
/**
 * Share of answers the upper bound aims to cover: above the 99 % promised, because the server's
 * own total misses what the client also waits for (the response on the wire, its scheduling).
 */
export const COVERAGE = 0.995;
/** Recent normalised errors kept for the rescaling. */
const ERROR_WINDOW = 400;
/** Errors needed before the rescaling replaces the plain component bound. */
const MIN_ERRORS = 50;

/** A running mean and variance, exponentially weighted after `WINDOW` observations. */
export class RunningStat {
  count = 0;
  mean = 0;
  variance = 0;

  add(x: number): void {
    this.count++;
    const w = Math.max(1 / this.count, 1 / WINDOW);
    const d = x - this.mean;
    this.mean += w * d;
    this.variance = (1 - w) * (this.variance + w * d * d);
  }

  /** mean + z * sd, and at least 10 % above the mean (few observations understate spread). */
  upper(z = UPPER_Z): number {
    return Math.max(this.mean * 1.1, this.mean + z * Math.sqrt(this.variance));
  }
}

/** A predicted total: its upper bound is `mean + scale * spread`. */
export interface TotalEstimate extends Estimate {
  /** The component bound's distance above the mean (before rescaling). */
  spread: number;
}

/** The last `size` values, with their quantiles. */
class Window {
  #values: number[] = [];
  #next = 0;

  constructor(readonly size: number) {}

  get count(): number {
    return this.#values.length;
  }

  add(x: number): void {
    if (this.#values.length < this.size) this.#values.push(x);
    else this.#values[this.#next] = x;
    this.#next = (this.#next + 1) % this.size;
  }

  /** The `q`-quantile, rounded up to the next value (the conformal rank). */
  quantile(q: number): number {
    const sorted = [...this.#values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil(q * (sorted.length + 1)) - 1)];
  }
}

/** The sum of independent parts: means add, spreads (upper - mean) add in quadrature. */
function sum(...es: Estimate[]): Estimate {
  const mean = es.reduce((s, e) => s + e.mean, 0);
  return { mean, upper: mean + Math.hypot(...es.map((e) => e.upper - e.mean)) };
}

/** Observed timings of one answered job. */
export interface Observation {
  point: OperatingPoint;
  pixels: number;
  decodeMs: number;
  inferMs: number;
  /** Total minus queue, decode and inference (HTTP, messaging). */
  overheadMs: number;
  /** Images in the batch the job ran in (only single runs teach per-point inference time). */
  batch: number;
  /** The whole answer time, and what `total` predicted for it (teaches the rescaling). */
  totalMs?: number;
  predicted?: TotalEstimate;
}

/** Latency model of one backend. */
export class LatencyModel {
  #points = new Map<string, RunningStat>();
  /** Inference ms per GMAC over every point: the guess for points not seen yet. */
  #perGmac = new RunningStat();
  #decodePerMp = new RunningStat();
  #serviceTime = new RunningStat();
  #overhead = new RunningStat();
  /** (observed - predicted mean) / spread of recent answers. */
  #errors = new Window(ERROR_WINDOW);

  constructor(readonly backend: string) {}

  /** Observations so far. */
  get observations(): number {
    return this.#serviceTime.count;
  }

  observe(o: Observation): void {
    if (o.batch === 1) {
      const key = pointKey(o.point);
      let stat = this.#points.get(key);
      if (!stat) this.#points.set(key, stat = new RunningStat());
      stat.add(o.inferMs);
      this.#perGmac.add(o.inferMs / o.point.gmacs);
    }
    this.#decodePerMp.add(o.decodeMs / (o.pixels / 1e6 + DECODE_BASE_MP));
    this.#serviceTime.add(o.decodeMs + o.inferMs);
    this.#overhead.add(o.overheadMs);
    if (o.predicted && o.totalMs !== undefined && o.predicted.spread > 0) {
      this.#errors.add((o.totalMs - o.predicted.mean) / o.predicted.spread);
    }
  }

  /**
   * What multiplies the component spread in the upper bound: 1 until enough answers were seen,
   * then the `COVERAGE` quantile of their normalised errors (never below the mean).
   */
  get scale(): number {
    return this.#errors.count < MIN_ERRORS ? 1 : Math.max(0, this.#errors.quantile(COVERAGE));
  }

  /** Inference time at `point`; undefined before any observation. */
  infer(point: OperatingPoint): Estimate | undefined {
    const own = this.#points.get(pointKey(point));
    if (own && own.count >= MIN_OWN) return { mean: own.mean, upper: own.upper() };
    if (this.#perGmac.count === 0) return undefined;
    return { mean: this.#perGmac.mean * point.gmacs, upper: this.#perGmac.upper() * point.gmacs };
  }

  /** Decode and preprocessing time of an image of `pixels`. */
  decode(pixels: number): Estimate {
    const mp = pixels / 1e6 + DECODE_BASE_MP;
    return { mean: this.#decodePerMp.mean * mp, upper: this.#decodePerMp.upper() * mp };
  }

  /** Decode and inference of one job at `point` (what it will hold a worker for). */
  serviceTime(point: OperatingPoint, pixels: number): Estimate | undefined {
    const infer = this.infer(point);
    return infer && sum(this.decode(pixels), infer);
  }

  /**
   * Waiting time behind the backlog: nothing while a worker is free, else what is left of each
   * running job (its predicted service time minus what it has run) plus the service time of each
   * queued one, shared by the workers. Jobs without a prediction count a typical service time.
   */
  queue(backlog: Backlog): Estimate {
    const { running, queued, workers } = backlog;
    if (running.length < workers && queued.length === 0) return { mean: 0, upper: 0 };
    const typical = { mean: this.#serviceTime.mean, upper: this.#serviceTime.upper() };
    const wait = (k: keyof Estimate) =>
      (running.reduce((s, r) => s + Math.max(0, (r.serviceTime ?? typical)[k] - r.elapsedMs), 0) +
        queued.reduce((s, q) => s + (q.serviceTime ?? typical)[k], 0)) / workers;
    return { mean: wait("mean"), upper: wait("upper") };
  }

  /** Predicted total for `point`; undefined before any observation. */
  total(point: OperatingPoint, pixels: number, backlog: Backlog): TotalEstimate | undefined {
    const service = this.serviceTime(point, pixels);
    if (!service) return undefined;
    const overhead = { mean: this.#overhead.mean, upper: this.#overhead.upper() };
    const { mean, upper } = sum(this.queue(backlog), service, overhead);
    const spread = upper - mean;
    return { mean, upper: mean + this.scale * spread, spread };
  }
}
