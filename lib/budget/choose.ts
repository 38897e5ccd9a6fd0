/**
 * The per-request decision: the operating point with the best expected accuracy whose predicted
 * decode + queue + inference (upper bound) fits the latency budget.
 * @module
 */
import { UserError } from "../errors.ts";
import type { Backlog } from "../runtime/jobs.ts";
import type { LatencyModel, TotalEstimate } from "./latency.ts";
import { expectedAccuracy, type OperatingPoint, type PointsTable } from "./points.ts";

/** What to do when no point fits: run the cheapest anyway, or refuse (HTTP 503). */
export type OnMiss = "best_effort" | "reject";
/** The accepted `on_miss` values. */
export const ON_MISS: readonly OnMiss[] = ["best_effort", "reject"];

/** No operating point fits and the caller asked to be refused. */
export class BudgetMissError extends UserError {
  override name = "BudgetMissError";
  constructor(readonly budgetMs: number, readonly minimumMs: number) {
    super(
      `no operating point fits ${budgetMs} ms; the minimum achievable now is about ` +
        `${Math.ceil(minimumMs)} ms`,
    );
  }
}

/** The table has no point of the requested method. */
export class NoPointsError extends UserError {
  override name = "NoPointsError";
}

/** One request's constraints and the state it meets. */
export interface BudgetRequest {
  budgetMs: number;
  onMiss: OnMiss;
  /** Only points of this method (default: any). */
  method?: string;
  /** Only points that merge (explain has nothing to show unmerged). */
  mergingOnly?: boolean;
  /** Decoded size of the image (from its header). */
  pixels: number;
  backlog: Backlog;
}

/** The decision. */
export interface Choice {
  point: OperatingPoint;
  /** Undefined while the model has no observation yet (the cheapest point is used). */
  predicted?: TotalEstimate;
  /** Whether the predicted upper bound fits the budget. */
  fits: boolean;
}

/**
 * The points no other point beats on both cost (GMACs, no more) and expected accuracy (strictly
 * more): a dominated point, such as delayed merging squeezed to 35 % of the blocks, is never worth
 * choosing, and without this the fastest-point fallback would pick among near-equal costs by noise.
 */
export function paretoFront(points: OperatingPoint[]): OperatingPoint[] {
  return points.filter((p) =>
    !points.some((q) => q.gmacs <= p.gmacs && expectedAccuracy(q) > expectedAccuracy(p))
  );
}

/** Picks the point for a request (throws `BudgetMissError` when none fits and onMiss=reject). */
export function choosePoint(
  table: PointsTable,
  latency: LatencyModel,
  req: BudgetRequest,
): Choice {
  const candidates = paretoFront(
    table.points.filter((p) =>
      (!req.method || p.method === req.method) && !(req.mergingOnly && p.method === "none")
    ),
  );
  if (candidates.length === 0) {
    const methods = [...new Set(table.points.map((p) => p.method))].join(", ");
    throw new NoPointsError(
      `no operating point of method ${req.method} for ${table.model}; with a budget use one of ${methods}`,
    );
  }
  const byCost = [...candidates].sort((a, b) => a.gmacs - b.gmacs);
  const predicted = byCost.map((point) => ({
    point,
    predicted: latency.total(point, req.pixels, req.backlog),
  }));
  if (predicted.some((c) => !c.predicted)) return { point: byCost[0], fits: false };
  const fitting = predicted.filter((c) => c.predicted!.upper <= req.budgetMs);
  if (fitting.length > 0) {
    // byCost order makes the cheaper of equally accurate points win.
    const best = fitting.reduce((a, b) =>
      expectedAccuracy(b.point) > expectedAccuracy(a.point) ? b : a
    );
    return { ...best, fits: true };
  }
  const cheapest = predicted.reduce((a, b) => (b.predicted!.upper < a.predicted!.upper ? b : a));
  if (req.onMiss === "reject") throw new BudgetMissError(req.budgetMs, cheapest.predicted!.upper);
  return { ...cheapest, fits: false };
}
