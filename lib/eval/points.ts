/**
 * Operating points from eval results: what `deno task points` writes for the budget logic.
 * @module
 */
import {
  checkPoints,
  type OperatingPoint,
  pointKey,
  PointsError,
  type PointsTable,
} from "../budget/points.ts";
import type { EvalRow } from "./evaluate.ts";

/**
 * A table from eval rows (of one or several image sets), added to the measured points of `base`
 * if given: rows of the same point are pooled, top-1 weighted by image count.
 */
export function pointsFromEval(
  model: string,
  rows: EvalRow[],
  base: OperatingPoint[] = [],
): PointsTable {
  const pooled = new Map<string, OperatingPoint & { top1: number; n: number }>();
  for (const p of base) {
    if (p.top1 === undefined || p.n === undefined) {
      throw new PointsError(`base point ${pointKey(p)} has no measured top-1 and image count`);
    }
    pooled.set(pointKey(p), { ...p, top1: p.top1, n: p.n });
  }
  // The unmerged row repeats in every results file of a set: count each set once.
  const counted = new Set<string>();
  for (const row of rows) {
    const kind = row.schedule_kind ?? "constant";
    const point = {
      method: row.method,
      schedule: row.schedule,
      ...(kind !== "constant" && row.method !== "none" && { kind }),
      ...(row.theta !== undefined && { theta: row.theta }),
      ...(row.resolution !== undefined && { resolution: row.resolution }),
      gmacs: row.gmacs,
      reduction: row.reduction,
    };
    const rowId = `${pointKey(point)}|${row.n}|${row.top1}`;
    if (counted.has(rowId)) continue;
    counted.add(rowId);
    const seen = pooled.get(pointKey(point));
    const n = (seen?.n ?? 0) + row.n;
    const top1 = ((seen?.top1 ?? 0) * (seen?.n ?? 0) + row.top1 * row.n) / n;
    pooled.set(pointKey(point), { ...point, top1, n });
  }
  const points = [...pooled.values()];
  const images = [...new Set(points.map((p) => p.n))].join("/");
  return checkPoints({ model, source: `eval top-1 over ${images} images`, points }, "eval rows");
}
