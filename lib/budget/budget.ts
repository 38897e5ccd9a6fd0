/**
 * The service's budget state: the model's operating points, the latency model of the backend
 * serving them, and its calibration (each point run a few times at start, before `/readyz`
 * says ready).
 * @module
 */
import { encodePng } from "../image/encode.ts";
import type { ClassifyResult, Inference } from "../serve/inference.ts";
import { type BudgetRequest, type Choice, choosePoint } from "./choose.ts";
import { LatencyModel } from "./latency.ts";
import type { OperatingPoint, PointsTable } from "./points.ts";

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

/** Points, latency model and calibration state of one served model. */
export class Budget {
  readonly model: LatencyModel;
  #calibrated = false;

  constructor(readonly table: PointsTable, backend: string) {
    this.model = new LatencyModel(backend);
  }

  /** Whether the calibration finished. */
  get calibrated(): boolean {
    return this.#calibrated;
  }

  /** The operating point for a request (see `choosePoint`). */
  choose(request: BudgetRequest): Choice {
    return choosePoint(this.table, this.model, request);
  }

  /** Learns from an answered job that ran `point`. */
  observe(point: OperatingPoint, result: ClassifyResult, totalMs: number, pixels: number): void {
    this.model.observe({
      point: { ...point, gmacs: result.gmacs },
      pixels,
      decodeMs: result.decodeMs,
      inferMs: result.inferMs,
      overheadMs: Math.max(0, totalMs - result.queueMs - result.decodeMs - result.inferMs),
      batch: result.batch,
    });
  }

  /** Runs every point `runs` times (most expensive first) through `inference`. */
  async calibrate(inference: Inference, runs = 3, onPoint?: (done: number) => void) {
    const image = calibrationImage();
    const pixels = CALIBRATION_SIDE * CALIBRATION_SIDE;
    const points = [...this.table.points].sort((a, b) => b.gmacs - a.gmacs);
    const started = new Set<string>();
    for (const [i, point] of points.entries()) {
      const job = { method: point.method, schedule: point.schedule, theta: point.theta };
      // The first run of a method also starts its session: not a latency sample.
      if (!started.has(point.method)) await inference.classify({ ...job, topK: 1, image });
      started.add(point.method);
      for (let k = 0; k < runs; k++) {
        const t0 = performance.now();
        const result = await inference.classify({ ...job, topK: 1, image });
        this.observe(point, result, performance.now() - t0, pixels);
      }
      onPoint?.(i + 1);
    }
    this.#calibrated = true;
  }
}
