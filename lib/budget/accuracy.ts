/**
 * Expected accuracy of any schedule: top-1 as a function of method, schedule family and GMACs,
 * interpolated (piecewise linear) between the points `eval` measured for that method in that
 * family, with the unmerged point at the full cost. The controller maximises this, not only
 * speed.
 *
 * @example
 * ```ts
 * const accuracy = AccuracyModel.fromTable(table);
 * accuracy.expected("tome", 0.9); // between ToMe's 23 % and 33 % points
 * accuracy.expected("tome", 0.44, "linear"); // ToMe's linear ramp at about 65 % less
 * ```
 * @module
 */
import type { ScheduleKind } from "../merge/schedule.ts";
import { expectedAccuracy, type OperatingPoint, type PointsTable } from "./points.ts";

/** `(gmacs, top1)` knots of one method, by increasing GMACs. */
export type Curve = readonly (readonly [number, number])[];

/** A schedule family at a resolution: what one accuracy curve of a method covers. */
export interface Family {
  kind: ScheduleKind;
  /** Pixels the runs start at, below the model's own (absent: its own). */
  resolution?: number;
}

/** The map key of a family. */
function familyKey({ kind, resolution }: Family): string {
  return resolution === undefined ? kind : `${kind}@${resolution}`;
}

/** Expected top-1 per method, schedule family, resolution and GMACs. */
export class AccuracyModel {
  private constructor(
    readonly curves: ReadonlyMap<string, ReadonlyMap<string, { family: Family; curve: Curve }>>,
  ) {}

  /** The curves of a points table (methods without measured top-1 rank by reduction). */
  static fromTable(table: PointsTable): AccuracyModel {
    const unmerged = table.points.find((p) => p.method === "none");
    const curves = new Map<string, Map<string, { family: Family; curve: Curve }>>();
    const byMethod = Map.groupBy(table.points, (p: OperatingPoint) => p.method);
    for (const [method, points] of byMethod) {
      const family = (p: OperatingPoint): Family => ({
        kind: p.kind ?? "constant",
        ...(p.resolution !== undefined && { resolution: p.resolution }),
      });
      const byFamily = Map.groupBy(points, (p: OperatingPoint) => familyKey(family(p)));
      const families = new Map<string, { family: Family; curve: Curve }>();
      for (const [key, same] of byFamily) {
        // The unmerged point ends the curves at the model's own resolution; a lower one's runs
        // never cost that much.
        const own = same[0].resolution === undefined;
        const knots: [number, number][] = [
          ...same,
          ...(method === "none" || !unmerged || !own ? [] : [unmerged]),
        ]
          .map((p): [number, number] => [p.gmacs, expectedAccuracy(p)])
          .sort((a, b) => a[0] - b[0]);
        families.set(key, { family: family(same[0]), curve: knots });
      }
      curves.set(method, families);
    }
    return new AccuracyModel(curves);
  }

  /** Methods with a curve. */
  get methods(): string[] {
    return [...this.curves.keys()];
  }

  /** The families `method` has a curve in. */
  families(method: string): Family[] {
    return [...this.curves.get(method)?.values() ?? []].map((c) => c.family);
  }

  /** `method`'s curve in schedule family `kind` at `resolution` (empty when none was measured). */
  curve(method: string, kind: ScheduleKind = "constant", resolution?: number): Curve {
    return this.curves.get(method)?.get(familyKey({ kind, resolution }))?.curve ?? [];
  }

  /**
   * Expected top-1 of `method` in family `kind` at `gmacs`: linear between knots, extended below
   * the cheapest knot along the last segment's slope (never below 0, never above that knot:
   * merging more than anyone measured is assumed to cost accuracy), the unmerged value above;
   * undefined where eval measured no point of the method in that family (planning ranks such
   * plans at 0, see `expectedTop1`; an answer reports it unknown).
   */
  expected(
    method: string,
    gmacs: number,
    kind: ScheduleKind = "constant",
    resolution?: number,
  ): number | undefined {
    const curve = this.curve(method, kind, resolution);
    return curve.length === 0 ? undefined : expectedTop1(curve, gmacs);
  }
}

/** Expected top-1 at `gmacs` on one method's curve (see `AccuracyModel.expected`). */
export function expectedTop1(curve: Curve, gmacs: number): number {
  if (curve.length === 0) return 0;
  if (gmacs <= curve[0][0]) {
    if (curve.length === 1) return curve[0][1];
    const [[g0, a0], [g1, a1]] = curve;
    const slope = g1 === g0 ? 0 : Math.max(0, (a1 - a0) / (g1 - g0));
    return Math.max(0, a0 - slope * (g0 - gmacs));
  }
  for (let i = 1; i < curve.length; i++) {
    const [g1, a1] = curve[i];
    if (gmacs <= g1) {
      const [g0, a0] = curve[i - 1];
      return g1 === g0 ? a1 : a0 + ((a1 - a0) * (gmacs - g0)) / (g1 - g0);
    }
  }
  return curve[curve.length - 1][1];
}
