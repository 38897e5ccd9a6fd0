/**
 * The latency cost model of one backend: what decode, queueing and inference at each operating
 * point will take, learnt from observed timings (a calibration at start, then every answered
 * request). Each quantity is a running mean and spread (exponentially weighted, so it follows
 * load changes); decisions use an upper bound, mean + z * spread.
 * @module
 */
import { type OperatingPoint, pointKey } from "./points.ts";

/** z of the upper bound (about the 99th percentile of a normal spread). */
export const UPPER_Z = 2.33;
/** Weight of a new observation once a statistic has this many (earlier ones average). */
const WINDOW = 20;
/** Observations a point needs before its own statistic replaces the GMACs-proportional guess. */
const MIN_OWN = 3;
/** Decode cost is modelled per megapixel plus this much (fixed per-image work). */
const DECODE_BASE_MP = 0.1;

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

/** A prediction in milliseconds. */
export interface Estimate {
  mean: number;
  upper: number;
}

const add = (...es: Estimate[]): Estimate => ({
  mean: es.reduce((s, e) => s + e.mean, 0),
  upper: es.reduce((s, e) => s + e.upper, 0),
});

/** Work ahead of a new job. */
export interface Backlog {
  /** How long each running job (or batch) has been running. */
  runningMs: number[];
  /** Jobs waiting. */
  queued: number;
  workers: number;
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
}

/** Latency model of one backend. */
export class LatencyModel {
  #points = new Map<string, RunningStat>();
  /** Inference ms per GMAC over every point: the guess for points not seen yet. */
  #perGmac = new RunningStat();
  #decodePerMp = new RunningStat();
  #service = new RunningStat();
  #overhead = new RunningStat();

  constructor(readonly backend: string) {}

  /** Observations so far. */
  get observations(): number {
    return this.#service.count;
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
    this.#service.add(o.decodeMs + o.inferMs);
    this.#overhead.add(o.overheadMs);
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

  /**
   * Waiting time behind the backlog: nothing while a worker is free, else the remaining service
   * of the running jobs (a typical service minus what they have run) plus a service per queued
   * job, shared by the workers.
   */
  queue(backlog: Backlog): Estimate {
    const { runningMs, queued, workers } = backlog;
    if (runningMs.length < workers && queued === 0) return { mean: 0, upper: 0 };
    const wait = (service: number) =>
      (runningMs.reduce((s, elapsed) => s + Math.max(0, service - elapsed), 0) + queued * service) /
      workers;
    return { mean: wait(this.#service.mean), upper: wait(this.#service.upper()) };
  }

  /** Predicted total for `point`; undefined before any observation. */
  total(point: OperatingPoint, pixels: number, backlog: Backlog): Estimate | undefined {
    const infer = this.infer(point);
    if (!infer) return undefined;
    const overhead = { mean: this.#overhead.mean, upper: this.#overhead.upper() };
    return add(this.queue(backlog), this.decode(pixels), infer, overhead);
  }

  /** Per-point means (for /v1/models). */
  snapshot(): Record<string, { n: number; mean_ms: number; upper_ms: number }> {
    return Object.fromEntries(
      [...this.#points].map(([k, s]) => [k, { n: s.count, mean_ms: s.mean, upper_ms: s.upper() }]),
    );
  }
}
