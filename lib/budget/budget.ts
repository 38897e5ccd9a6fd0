/**
 * The service's budget state: the model's operating points, the latency model of the backend
 * serving them, and its calibration (each point run a few times at start, before `/readyz`
 * says ready).
 * @module
 */
import { encodePng } from "../image/encode.ts";
import { methodByName } from "../merge/methods.ts";
import { DEFAULT_REDUCTION } from "../merge/schedule.ts";
import type { ClassifyJob, ClassifyResult, Inference } from "../runtime/jobs.ts";
import { BudgetMissError, choosePoint, NoPointsError, type OnMiss } from "./choose.ts";
import { LatencyModel, type TotalEstimate } from "./latency.ts";
import { type OperatingPoint, pointKey, type PointsTable } from "./points.ts";

/** Side of the synthetic calibration image. */
const CALIBRATION_SIDE = 320;

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

/** While it refuses requests, an idle service re-measures its cheapest point at most this often. */
const PROBE_EVERY_MS = 1000;

/** What a request asks for, and the image it brings. */
export interface RunRequest {
  budgetMs?: number;
  onMiss: OnMiss;
  /** With a budget: only this method's points; without: run it. */
  method?: string;
  /** Without a budget: the method's target reduction (default `DEFAULT_REDUCTION`). */
  reduction?: number;
  /** Decoded size of the image (from its header). */
  pixels: number;
  /** Explaining needs a merge method: `none` never runs. */
  explain?: boolean;
}

/** What a job runs, as the budget decided it. */
export type JobPlan =
  & Pick<
    Partial<ClassifyJob>,
    "schedule" | "reduction" | "theta" | "batchKey" | "serviceTime"
  >
  & { method: string };

/** How a request will run. */
export interface Decision {
  job: JobPlan;
  /** The table's point, when one runs (a budget, or unmerged); undefined for a bare method. */
  point?: OperatingPoint;
  /** The predicted total, when the point has been timed. */
  predicted?: TotalEstimate;
}

/** Points, latency model and calibration state of one served model. */
export class Budget {
  readonly latency: LatencyModel;
  #calibrated = false;
  #image?: Uint8Array;
  #lastObservation = 0;
  #probing = false;

  /** The table's unmerged point (every table has one). */
  readonly #unmerged: OperatingPoint;

  constructor(readonly table: PointsTable, readonly inference: Inference) {
    this.latency = new LatencyModel(inference.backend);
    this.#unmerged = table.points.find((p) => p.method === "none")!;
  }

  /** Whether the calibration finished. */
  get calibrated(): boolean {
    return this.#calibrated;
  }

  /**
   * How `request` runs: with a budget, the most accurate point predicted to fit (see
   * `choosePoint`; a refusal may start a probe); without one, a named method at its reduction, or
   * else the unmerged model. Throws `BudgetMissError` or `NoPointsError`.
   */
  decide(request: RunRequest): Decision {
    const { budgetMs, method, pixels, explain } = request;
    if (explain && method === "none") throw new NoPointsError("explain needs a merge method");
    if (budgetMs !== undefined) {
      try {
        const { point, predicted } = choosePoint(this.table, this.latency, {
          budgetMs,
          onMiss: request.onMiss,
          method,
          mergingOnly: explain,
          pixels,
          backlog: this.inference.backlog(),
        });
        return { job: this.#jobAt(point, pixels), point, predicted };
      } catch (e) {
        if (e instanceof BudgetMissError) this.#probe();
        throw e;
      }
    }
    const named = method !== undefined || request.reduction !== undefined;
    if (method !== "none" && (explain || named)) {
      return {
        job: { method: method ?? "tome", reduction: request.reduction ?? DEFAULT_REDUCTION },
      };
    }
    const point = this.#unmerged;
    return {
      job: this.#jobAt(point, pixels),
      point,
      predicted: this.latency.total(point, pixels, this.inference.backlog()),
    };
  }

  /** The job of a table point: its schedule, predicted service time, and batch key. */
  #jobAt(point: OperatingPoint, pixels: number): JobPlan {
    return {
      method: point.method,
      schedule: point.schedule,
      theta: point.theta,
      serviceTime: this.latency.serviceTime(point, pixels),
      // Adaptive methods merge a batch at its smallest r, so they run alone.
      ...(!methodByName(point.method)?.adaptive && { batchKey: pointKey(point) }),
    };
  }

  /** Learns from an answered job that ran `point` (and what was predicted for it, if anything). */
  observe(
    point: OperatingPoint,
    result: ClassifyResult,
    totalMs: number,
    pixels: number,
    predicted?: TotalEstimate,
  ): void {
    if (result.coldStart) return;
    this.#lastObservation = performance.now();
    this.latency.observe({
      point: { ...point, gmacs: result.gmacs },
      pixels,
      decodeMs: result.decodeMs,
      inferMs: result.inferMs,
      overheadMs: Math.max(0, totalMs - result.queueMs - result.decodeMs - result.inferMs),
      batch: result.batch,
      totalMs,
      predicted,
    });
  }

  /**
   * Starts every method's sessions, then runs every point `runs` times (most expensive first)
   * on the calibration image.
   */
  async calibrate(runs = 3, onPoint?: (done: number) => void): Promise<void> {
    const points = [...this.table.points].sort((a, b) => b.gmacs - a.gmacs);
    await this.inference.warm([...new Set(points.map((p) => p.method))]);
    for (const [i, point] of points.entries()) {
      for (let k = 0; k < runs; k++) await this.#measure(point, false);
      onPoint?.(i + 1);
    }
    this.#calibrated = true;
  }

  /** Runs `point` on the calibration image and learns from it (its prediction error too). */
  async #measure(point: OperatingPoint, withError: boolean): Promise<void> {
    const pixels = CALIBRATION_SIDE * CALIBRATION_SIDE;
    const predicted = withError
      ? this.latency.total(point, pixels, this.inference.backlog())
      : undefined;
    const t0 = performance.now();
    const result = await this.inference.classify({
      method: point.method,
      schedule: point.schedule,
      theta: point.theta,
      topK: 1,
      image: this.#image ??= calibrationImage(),
    });
    this.observe(point, result, performance.now() - t0, pixels, predicted);
  }

  /**
   * Refusals teach the model nothing, so an estimate inflated by a slow spell (a noisy
   * neighbour, a replaced worker) could otherwise keep refusing for good: while refusing, an
   * idle service re-measures its cheapest point, at most once per `PROBE_EVERY_MS`.
   */
  #probe(): void {
    const { running, queued } = this.inference.backlog();
    if (!this.#calibrated || this.#probing || running.length > 0 || queued.length > 0) return;
    if (performance.now() - this.#lastObservation < PROBE_EVERY_MS) return;
    this.#probing = true;
    const cheapest = this.table.points.reduce((a, b) => (b.gmacs < a.gmacs ? b : a));
    this.#measure(cheapest, true)
      .catch((e) => console.error(`edgemerge: latency probe failed: ${(e as Error).message}`))
      .finally(() => this.#probing = false);
  }
}
