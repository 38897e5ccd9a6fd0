/**
 * How fast requests are arriving: an exponentially weighted count over a recent window, so
 * the planner can price the time a run takes by the requests that arrive meanwhile.
 *
 * @example
 * ```ts
 * const arrivals = new ArrivalRate(5000);
 * arrivals.note(performance.now());
 * arrivals.perMs(performance.now()); // about 1 / 5000 after one arrival
 * ```
 * @module
 */

/** Arrivals per ms, each weighted by `exp(-age / windowMs)`: a Poisson stream of rate `λ` reads `λ`. */
export class ArrivalRate {
  #rate = 0;
  #at?: number;

  /** `windowMs`: the time constant of the weighting. */
  constructor(readonly windowMs = 5000) {
    if (!(windowMs > 0)) throw new RangeError(`window must be positive, got ${windowMs}`);
  }

  /** Counts one arrival at `now` (ms, on the clock `perMs` is read with). */
  note(now: number): void {
    this.#rate = this.perMs(now) + 1 / this.windowMs;
    this.#at = now;
  }

  /** Recent arrivals per ms at `now` (0 before the first). */
  perMs(now: number): number {
    if (this.#at === undefined) return 0;
    return this.#rate * Math.exp(-Math.max(0, now - this.#at) / this.windowMs);
  }
}
