/**
 * The service's budget logic for one served model. At arrival a budgeted request gets a
 * deadline and nothing else; when a worker takes it, `decide` plans it from the time left then:
 * of every method (and every spread of merges over the blocks), the best expected top-1 times
 * its chance of making the time left after decode and overhead (`planRest`). Between segments the worker re-plans the rest
 * with the same planner. A request that cannot make its deadline even at the cheapest schedule
 * is refused at once under `on_miss=reject` and otherwise runs at its cheapest once no feasible
 * request waits. Every answer teaches the timing model.
 * @module
 */
import { atResolution, type ViTConfig } from "../checkpoint/config.ts";
import { encodePng } from "../image/encode.ts";
import { blockGmacs } from "../merge/cost.ts";
import { DEFAULT_METHOD, methodByName } from "../merge/methods.ts";
import { DEFAULT_REDUCTION, SPREAD_KINDS, type SpreadKind } from "../merge/schedule.ts";
import type { MergeMethod } from "../merge/step.ts";
import {
  type ClassifyJob,
  type ClassifyResult,
  type Decided,
  epochNow,
  type Inference,
  type PlanModel,
  type RunControl,
} from "../runtime/jobs.ts";
import { AccuracyModel } from "./accuracy.ts";
import { BudgetMissError, NoPointsError, type OnMiss } from "./errors.ts";
import { ArrivalRate } from "./arrivals.ts";
import {
  bestOf,
  chanceOfFit,
  type Plan,
  planScore,
  ranked,
  type Spread,
  spreadsOf,
  startOf,
} from "./plan.ts";
import { type OperatingPoint, pointKey, type PointsTable } from "./points.ts";
import { TimingModel } from "./timing.ts";

/** Side of the synthetic calibration image. */
const CALIBRATION_SIDE = 320;
/** Tail quantile of the plan made when a worker takes a job (later segments correct it). */
export const DISPATCH_QUANTILE = 0.9;
/** Tail quantile of the re-plans between segments (less room left to correct). */
export const FLIGHT_QUANTILE = 0.95;
/** Tail quantile of decode and overhead time kept aside. */
const SIDE_QUANTILE = 0.9;
/** The price the load benches first tried against none (`bench:load`, `bench:ideal-load`). */
export const TRIAL_TIME_PRICE = 0.25;
/** The time price on WASM (`defaultTimePrice`). */
export const WASM_TIME_PRICE = 1;
/**
 * Expected top-1 a run's ms costs per request arriving per ms on each worker
 * (`BudgetOptions.timePrice`), by backend. Paired `bench:load` runs (docs/PERFORMANCE.md, "The time
 * price on each backend" and "A dearer time on WASM"): on WASM 0.25 against 0 gained 1.6-2.3 points
 * of effective accuracy and up to 4 points in budget over 8 pairs, and 1 against 0.25 another 2.4-4
 * points in budget and 0.6-3.6 effective over 4 (DeiT-Tiny), as `bench:ideal-load` predicts in
 * budget; past 1 the simulation loses 6-15 points effective at 70-90 % load. On native, where
 * merging buys less of a request's service, 0.25 lost about a point at 50 and 70 % load (2 pairs;
 * 1-3 points on 2026-12-04).
 * WebGPU is unmeasured on a real adapter and stays at 0, like the other fast backend.
 *
 * @example
 * ```ts
 * defaultTimePrice("wasm"); // 1
 * defaultTimePrice("native"); // 0: accuracy alone
 * ```
 */
export function defaultTimePrice(backend: string): number {
  return backend === "wasm" ? WASM_TIME_PRICE : 0;
}
/**
 * Ms of every budget spent where the server cannot see it (`BudgetOptions.outsideMs`): the way
 * to the server and back and the client's own HTTP. Deadlines are set that much earlier. A client
 * on the same machine saw answers 1.3-1.6 ms (median) after the server's own total; in 3 paired
 * `bench:load` runs per backend (docs/PERFORMANCE.md), 1.5 put 3-4 points more of the requests in
 * budget on average and kept effective accuracy (+1.8 WASM, +0.4 native, within the noise).
 * Remote clients should add their round trip.
 */
export const DEFAULT_OUTSIDE_MS = 1.5;
/** Time constant of the arrival rate the price follows, ms. */
const ARRIVAL_WINDOW_MS = 5000;

/**
 * Seeded colour noise as PNG. Noise is the costly case for adaptive methods (few similar tokens,
 * so AdaMerge merges little); a smooth image would make their points look cheaper than real
 * photos are.
 */
function calibrationImage(): Uint8Array {
  const n = CALIBRATION_SIDE;
  const rgba = new Uint8Array(n * n * 4);
  let seed = 12345;
  for (let i = 0; i < rgba.length; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    rgba[i] = i % 4 === 3 ? 255 : seed >>> 24;
  }
  return encodePng(rgba, n, n);
}

/** What a request asks for, and the image it brings. */
export interface RunRequest {
  budgetMs?: number;
  onMiss: OnMiss;
  /** With a budget: only this method; without: run it. */
  method?: string;
  /** Without a budget: the method's target reduction (default `DEFAULT_REDUCTION`). */
  reduction?: number;
  /** Without a budget: this schedule (and threshold) of the method (default ToMe). */
  schedule?: number[];
  theta?: number;
  /** Without a budget: the pixels to run at (default the model's own). */
  resolution?: number;
  /** Decoded size of the image (from its header). */
  pixels: number;
  /** Explaining needs a merge method: `none` never runs. */
  explain?: boolean;
  /** When the request arrived, ms on this thread's clock (`performance.now()`). */
  arrived: number;
}

/** What a job runs, as the budget admits it (a budgeted one: with `decide`, for later). */
export type JobPlan = Omit<ClassifyJob, "topK" | "image" | "explain">;

/** Options of a `Budget`. */
export interface BudgetOptions {
  /** Blocks per segment of the serving graph. */
  segment: number;
  /** Blocks SAD-TM-DM leaves unmerged (its prior's suggestion). */
  tau?: number;
  /**
   * Under load a run's time costs the requests arriving meanwhile: plans are ranked by expected
   * top-1 minus `timePrice` x arrivals per ms per worker x predicted ms (default
   * `defaultTimePrice` of the backend; 0: accuracy alone).
   */
  timePrice?: number;
  /**
   * Ms of each budget spent outside the server's view (the network both ways, the client's HTTP
   * stack): a budget's deadline is set this much before its end (default `DEFAULT_OUTSIDE_MS`).
   */
  outsideMs?: number;
  /** Clocks (tests): ms on this thread, and epoch ms (what deadlines are in). */
  now?: () => number;
  epoch?: () => number;
}

/** Every methods' plan that fits, or the fastest. */
interface Candidate {
  method: MergeMethod | undefined;
  plan: Plan;
  /** The family the plan spreads its merges in (re-plans keep it). */
  kind: SpreadKind;
  /** Pixels the run starts at, below the model's own. */
  resolution?: number;
  theta?: number;
}

/**
 * `plan` with the key under which queued jobs at the same fixed point run as one batch (up to
 * the pool's `maxBatch`); adaptive methods merge a batch at its smallest count, so they run
 * alone, as explain jobs do.
 */
function withBatchKey(plan: JobPlan, explain?: boolean): JobPlan {
  // An explain job draws its own picture: a failing one must not fail the jobs beside it.
  if (explain || methodByName(plan.method)?.adaptive) return plan;
  const { method, schedule, reduction, theta, resolution } = plan;
  return { ...plan, batchKey: JSON.stringify([method, schedule ?? reduction, theta, resolution]) };
}

/** Points, models and calibration state of one served model. */
export class Budget {
  readonly timing: TimingModel;
  readonly accuracy: AccuracyModel;
  #calibrated = false;
  #image?: Uint8Array;
  readonly #now: () => number;
  readonly #epoch: () => number;
  #arrivals = new ArrivalRate(ARRIVAL_WINDOW_MS);

  constructor(
    readonly config: ViTConfig,
    readonly table: PointsTable,
    readonly inference: Inference,
    readonly options: BudgetOptions,
  ) {
    this.timing = new TimingModel(inference.backend);
    // A table of another model's resolutions is an error now, not at a request's plan.
    for (const p of table.points) {
      if (p.resolution !== undefined) atResolution(config, p.resolution);
    }
    this.accuracy = AccuracyModel.fromTable(table);
    this.#now = options.now ?? (() => performance.now());
    this.#epoch = options.epoch ?? epochNow;
  }

  /** `#fastestMs` for one fit of the timing model (`coef` is replaced at each refit). */
  #fastest?: { coef: readonly number[]; ms: number };

  /** Whether the calibration finished. */
  get calibrated(): boolean {
    return this.#calibrated;
  }

  /**
   * The plan data of `method` in spread family `kind` at `resolution` (default the model's own)
   * at tail quantile `q`; `byChance`: rank every plan with a chance of making it
   * (`PlanModel.byChance`).
   */
  planModel(
    method: string,
    q: number,
    { kind, resolution }: { kind: SpreadKind; resolution?: number } = { kind: "constant" },
    byChance = false,
  ): PlanModel {
    return {
      coef: this.timing.coefficients,
      factor: this.timing.factor(q),
      ratios: this.timing.ratioQuantiles(),
      kind,
      ...(resolution !== undefined && { resolution }),
      curve: this.accuracy.curve(method, kind, resolution),
      segment: this.options.segment,
      price: this.timePrice(),
      byChance,
    };
  }

  /** Ms of each budget the server leaves for what it cannot see (`BudgetOptions.outsideMs`). */
  get outsideMs(): number {
    return this.options.outsideMs ?? DEFAULT_OUTSIDE_MS;
  }

  /** What a ms of a run costs now in expected top-1 (see `BudgetOptions.timePrice`). */
  timePrice(): number {
    const c = this.options.timePrice ?? defaultTimePrice(this.inference.backend);
    if (c === 0) return 0;
    return c * this.#arrivals.perMs(this.#now()) / Math.max(1, this.inference.backlog().workers);
  }

  /** Methods a budget may choose from: those of the table (or only `only`). */
  #candidates(only?: string): string[] {
    const methods = this.accuracy.methods.filter((m) => !only || m === only);
    if (methods.length === 0) {
      const known = this.accuracy.methods.join(", ");
      throw new NoPointsError(
        `no operating point of method ${only} for ${this.table.model}; with a budget use one of ${known}`,
      );
    }
    return methods;
  }

  /** The best-ranked plan of every candidate method for `leftMs` of inference (`planRest`). */
  #best(
    methods: string[],
    leftMs: number,
    q: number,
    mergingOnly: boolean,
    byChance = false,
  ): Candidate {
    let best: Candidate | undefined, fastest: Candidate | undefined;
    for (const name of methods) {
      if (mergingOnly && name === "none") continue;
      const method = methodByName(name);
      for (const c of this.#plans(name, method, leftMs, q, byChance)) {
        if (!fastest || c.plan.predictedMs < fastest.plan.predictedMs) fastest = c;
        if (ranked(byChance, c.plan) && (!best || c.plan.score > best.plan.score)) best = c;
      }
    }
    if (!fastest) throw new NoPointsError("explain needs a merge method");
    return best ?? fastest;
  }

  /**
   * `method`'s plans: a planned schedule per spread family it has a curve in, or for adaptive
   * methods their table points.
   */
  #plans(
    name: string,
    method: MergeMethod | undefined,
    leftMs: number,
    q: number,
    byChance: boolean,
  ): Candidate[] {
    const model = this.planModel(name, q, { kind: "constant" }, byChance);
    if (!method?.adaptive) {
      const tau = method?.delayed ? this.options.tau ?? 0 : 0;
      const families = this.accuracy.families(name).filter((f): f is {
        kind: SpreadKind;
        resolution?: number;
      } => (SPREAD_KINDS as readonly string[]).includes(f.kind));
      return families.map((family) => {
        const model = this.planModel(name, q, family, byChance);
        const spreads = this.#spreads(name, method, model, family, tau);
        return { method, ...family, plan: bestOf(model, spreads, leftMs) };
      });
    }
    return this.table.points.filter((p) => p.method === name).map((p) => {
      const predictedMs = this.pointMs(p);
      const expected = p.top1 ?? 0;
      const chance = chanceOfFit(model, predictedMs, leftMs);
      return {
        method,
        kind: "constant" as const,
        theta: p.theta,
        plan: {
          schedule: p.schedule,
          predictedMs,
          expected,
          chance,
          score: planScore(model, expected, chance, predictedMs),
          gmacs: p.gmacs,
          fits: predictedMs * model.factor <= leftMs,
        },
      };
    });
  }

  /** `#spreads` per method and family, for the timing fit they were computed under. */
  readonly #spreadCache = new Map<string, { coef: readonly number[]; spreads: Spread[] }>();

  /**
   * `spreadsOf` a run's start for `method` in `family`. They change only when the timing model
   * is refitted, and computing them is most of a decision (about 1000 spreads, 0.5 ms hot and
   * 2-7 ms on an idle server's cold caches), so they are kept until then.
   */
  #spreads(
    name: string,
    method: MergeMethod | undefined,
    model: PlanModel,
    family: { kind: SpreadKind; resolution?: number },
    tau: number,
  ): Spread[] {
    const key = `${name} ${family.kind} ${family.resolution ?? ""}`;
    const kept = this.#spreadCache.get(key);
    if (kept?.coef === model.coef) return kept.spreads;
    const start = startOf(this.config, family.resolution);
    const spreads = spreadsOf(this.config, method, model, start, tau);
    this.#spreadCache.set(key, { coef: model.coef, spreads });
    return spreads;
  }

  /** What the timing model has learnt (for `/v1/models`). */
  describeTiming() {
    const t = this.timing;
    const names = [
      "ms_per_gmac",
      "ms_per_block",
      "ms_per_merging_block",
      "embed_ms",
      "head_ms",
      "run_ms",
    ];
    return {
      segments_seen: t.observations,
      coefficients: Object.fromEntries(t.coefficients.map((c, i) => [names[i], +c.toFixed(4)])),
      tail_factor: { dispatch: t.factor(DISPATCH_QUANTILE), in_flight: t.factor(FLIGHT_QUANTILE) },
      decode_ms_per_megapixel_p50: +t.decode(1e6).toFixed(2),
      overhead_ms_p90: +t.overhead(SIDE_QUANTILE).toFixed(2),
      arrivals_per_s: +(1000 * this.#arrivals.perMs(this.#now())).toFixed(2),
      time_price_per_ms: +this.timePrice().toFixed(5),
      outside_ms: this.outsideMs,
    };
  }

  /**
   * Median inference time of a table point (its mean GMACs, its merging blocks), run in one
   * piece as adaptive points are (they cannot be re-planned, so they are not segmented).
   */
  pointMs(p: OperatingPoint): number {
    const ends = startOf(this.config, p.resolution).gmacs;
    return this.timing.segment({
      gmacs: Math.max(0, p.gmacs - ends),
      blocks: this.config.depth,
      merging: p.schedule.filter((r) => r > 0).length,
      embed: true,
      head: true,
      runs: 1,
    });
  }

  /**
   * The least time a job of `pixels` takes from start to answer (median, fastest plan);
   * `decoded`: its image is decoded already.
   */
  leastMs(pixels: number, decoded = false): number {
    return (decoded ? 0 : this.timing.decode(pixels)) + this.#fastestMs() +
      this.timing.overhead(0.5);
  }

  /**
   * The fastest plan's median inference time. It depends only on the timing model's fit, so it
   * is planned again only when that changes: a sweep of every method costs the main thread about
   * 0.4 ms, and each request needs this twice (at arrival and when a worker takes it).
   */
  #fastestMs(): number {
    const coef = this.timing.coefficients;
    if (this.#fastest?.coef !== coef) {
      const ms = this.#best(this.accuracy.methods, 0, 0.5, false).plan.predictedMs;
      this.#fastest = { coef, ms };
    }
    return this.#fastest.ms;
  }

  /**
   * How `request` runs. With a budget: a deadline, and the decision deferred to when a worker
   * takes it (`decide`); refused at once (`BudgetMissError`) when it asked to be and even an
   * idle machine could not make it. Without: a named method at its reduction, or unmerged.
   */
  admit(request: RunRequest): JobPlan {
    const { budgetMs, method, explain } = request;
    const resolution = request.resolution === undefined ? {} : { resolution: request.resolution };
    if (explain && method === "none") throw new NoPointsError("explain needs a merge method");
    // Every request takes worker time, budgeted or not: all of them price the budgeted runs.
    this.#arrivals.note(this.#now());
    if (budgetMs === undefined) return withBatchKey(this.#fixed(request, resolution), explain);
    const methods = this.#candidates(method);
    const elapsed = this.#now() - request.arrived + this.outsideMs;
    const deadline = this.#epoch() - elapsed + budgetMs;
    const least = this.leastMs(request.pixels);
    const backlog = this.inference.backlog();
    const waits = backlog.running.length >= backlog.workers || backlog.queued.length > 0
      ? (backlog.running.reduce(
        (s, r) => s + Math.max(0, (r.serviceMs ?? least) - r.elapsedMs),
        0,
      ) +
        backlog.queued.reduce((s, q) => s + (q.serviceMs ?? least), 0)) / backlog.workers
      : 0;
    if (request.onMiss === "reject" && budgetMs - elapsed < least + waits) {
      throw new BudgetMissError(budgetMs, least + waits + elapsed);
    }
    return {
      method: "",
      deadline,
      serviceMs: least,
      decide: (limitMs, decoded) => this.#decide(request, methods, deadline, limitMs, decoded),
    };
  }

  /** An unbudgeted request's point: its schedule, else its method's reduction, else unmerged. */
  #fixed(request: RunRequest, resolution: { resolution?: number }): JobPlan {
    const { method, schedule, theta, explain } = request;
    const threshold = theta === undefined ? {} : { theta };
    if (schedule) {
      return { method: method ?? DEFAULT_METHOD, schedule, ...threshold, ...resolution };
    }
    const named = method !== undefined || request.reduction !== undefined;
    if (method !== "none" && (explain || named)) {
      return {
        method: method ?? DEFAULT_METHOD,
        reduction: request.reduction ?? DEFAULT_REDUCTION,
        ...threshold,
        ...resolution,
      };
    }
    return { method: "none", schedule: Array(this.config.depth).fill(0), ...resolution };
  }

  /** The plan for the time left now (see `admit`). */
  #decide(
    request: RunRequest,
    methods: string[],
    deadline: number,
    limitMs?: number,
    decoded = false,
  ): Decided | Error {
    const now = this.#epoch();
    const own = deadline - now;
    const side = (decoded ? 0 : this.timing.decodeAt(request.pixels, SIDE_QUANTILE)) +
      this.timing.overhead(SIDE_QUANTILE);
    const decodeMs = decoded ? 0 : this.timing.decode(request.pixels);
    const least = this.leastMs(request.pixels, decoded);
    // Hurry for the jobs behind when this one can still make it within their limit.
    const limited = limitMs !== undefined && limitMs < own && limitMs >= least + side;
    const left = limited ? limitMs : own;
    if (left < least) {
      if (request.onMiss === "reject") {
        return new BudgetMissError(request.budgetMs!, request.budgetMs! - left + least);
      }
      const cheapest = this.#best(methods, 0, 0.5, Boolean(request.explain));
      return this.#decided(cheapest, least, true);
    }
    // With nobody waiting behind it, a plan likelier late but far more accurate may win.
    const chosen = this.#best(
      methods,
      left - side,
      DISPATCH_QUANTILE,
      Boolean(request.explain),
      limitMs === undefined,
    );
    return {
      ...this.#decided(
        chosen,
        decodeMs + chosen.plan.predictedMs + this.timing.overhead(0.5),
        // Not hopeless: the fastest plan still makes `left` (checked above).
        false,
        limitMs === undefined,
      ),
      ...(limited && { deadline: now + left }),
    };
  }

  #decided(c: Candidate, predictedMs: number, hopeless: boolean, mayLighten = false): Decided {
    const name = c.method?.name ?? "none";
    const control: RunControl | undefined = c.method && !c.method.adaptive
      ? {
        model: this.planModel(name, FLIGHT_QUANTILE, c, mayLighten),
        tau: c.method.delayed ? this.options.tau ?? 0 : 0,
        reserveMs: this.timing.overhead(SIDE_QUANTILE),
        mayLighten,
      }
      : undefined;
    return {
      method: name,
      schedule: c.plan.schedule,
      ...(c.theta !== undefined && { theta: c.theta }),
      ...(c.resolution !== undefined && { resolution: c.resolution }),
      ...(control && { control }),
      predictedMs,
      ...(hopeless && { hopeless }),
    };
  }

  /** Learns from an answered job (`totalMs`: from arrival to the answer). */
  observe(result: ClassifyResult, pixels: number, totalMs: number): void {
    if (result.coldStart || result.batch !== 1) return;
    // A decode done while the job waited ran beside another job's inference: not what a worker
    // taking the job would spend on it.
    if (!result.decodedAhead) this.timing.observeDecode(pixels, result.decodeMs);
    const { tokens } = result;
    for (const s of result.segments) {
      let gmacs = 0, merging = 0;
      for (let l = s.from; l < s.to; l++) {
        gmacs += blockGmacs(this.config, tokens[l], tokens[l + 1]);
        if (tokens[l + 1] < tokens[l]) merging++;
      }
      this.timing.observeSegment({
        gmacs,
        blocks: s.to - s.from,
        merging,
        embed: s.from === 0,
        head: s.to === this.config.depth,
        runs: 1,
        ms: s.ms,
      });
    }
    const decodeMs = result.decodedAhead ? 0 : result.decodeMs;
    this.timing.observeOverhead(totalMs - result.queueMs - decodeMs - result.inferMs);
  }

  /**
   * Starts the session, then runs every point `runs` times (most expensive first) on the
   * calibration image, so the timing model sees every kind of run before `/readyz` says ready;
   * then rehearses a few budgeted requests (`#rehearse`).
   */
  async calibrate(runs = 3, onPoint?: (done: number) => void): Promise<void> {
    const points = [...this.table.points].sort((a, b) => b.gmacs - a.gmacs);
    await this.inference.warm([...new Set(points.map((p) => p.method))]);
    const image = this.#image ??= calibrationImage();
    const pixels = CALIBRATION_SIDE * CALIBRATION_SIDE;
    for (const [i, point] of points.entries()) {
      for (let k = 0; k < runs; k++) {
        const t0 = performance.now();
        // In segments, as budgeted requests run: the model sees segments of every kind.
        const result = await this.inference.classify({
          method: point.method,
          schedule: point.schedule,
          theta: point.theta,
          resolution: point.resolution,
          topK: 1,
          image,
          segmented: true,
          batchKey: pointKey(point),
        });
        this.observe(result, pixels, performance.now() - t0);
      }
      onPoint?.(i + 1);
    }
    await this.#rehearse(image, pixels);
    this.#calibrated = true;
  }

  /**
   * Runs a few budgeted requests, unobserved, on every worker. Calibration runs no budgeted job,
   * so the first real requests met cold code on their path (planning at dispatch, re-planning
   * between segments): the first after start took 59 ms where the next took 34, and ran at 112 px.
   */
  async #rehearse(image: Uint8Array, pixels: number, rounds = 3): Promise<void> {
    const { workers } = this.inference.backlog();
    for (let k = 0; k < rounds; k++) {
      await Promise.all(Array.from({ length: workers }, () => {
        const job = this.admit({
          budgetMs: 2 * this.leastMs(pixels),
          onMiss: "best_effort",
          pixels,
          arrived: this.#now(),
        });
        return this.inference.classify({ ...job, topK: 1, image });
      }));
    }
    // Rehearsals are not traffic: they must not price the first real runs.
    this.#arrivals = new ArrivalRate(ARRIVAL_WINDOW_MS);
  }
}
