/**
 * What a budget can answer instead of a classification, and the choice a request makes about it.
 * @module
 */
import { UserError } from "../errors.ts";

/** What to do when nothing fits: run the cheapest anyway, or refuse (HTTP 503). */
export type OnMiss = "best_effort" | "reject";
/** The accepted `on_miss` values. */
export const ON_MISS: readonly OnMiss[] = ["best_effort", "reject"];

/** Not even the cheapest schedule can make the deadline, and the caller asked to be refused. */
export class BudgetMissError extends UserError {
  override name = "BudgetMissError";
  constructor(readonly budgetMs: number, readonly minimumMs: number) {
    super(
      `nothing fits ${budgetMs} ms; the minimum achievable now is about ${Math.ceil(minimumMs)} ms`,
    );
  }
}

/** The request names a method the budget has no operating points for. */
export class NoPointsError extends UserError {
  override name = "NoPointsError";
}
