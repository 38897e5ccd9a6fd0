/**
 * Operating points: a method with a fixed schedule (and AdaMerge's `theta`), its cost and the
 * accuracy `eval` measured for it. The budget logic picks among them per request. A table comes
 * from eval results (`deno task points`, `lib/eval/points.ts`); a model without one gets ToMe at a
 * few reductions,
 * ranked by cost alone.
 * @module
 */
import { UserError } from "../errors.ts";
import { gmacs } from "../merge/cost.ts";
import { methodByName } from "../merge/methods.ts";
import { tome } from "../merge/tome.ts";
import {
  reductionOf,
  SCHEDULE_KINDS,
  scheduleForReduction,
  type ScheduleKind,
  tokensPerBlock,
} from "../merge/schedule.ts";
import type { ViTConfig } from "../checkpoint/config.ts";

/** One way to run the model. */
export interface OperatingPoint {
  method: string;
  /** `r` per block. */
  schedule: number[];
  /**
   * The family the schedule was solved in (absent: constant, or delayed for delayed methods):
   * points of one method and family make one accuracy curve.
   */
  kind?: ScheduleKind;
  /** AdaMerge's threshold (adaptive methods only). */
  theta?: number;
  /**
   * Pixels the run starts at, below the model's own (absent: its own; `atResolution`). Points of
   * one method, family and resolution make one accuracy curve.
   */
  resolution?: number;
  /** Mean GMACs per image (as measured by eval for adaptive methods). */
  gmacs: number;
  reduction: number;
  /** Top-1 accuracy measured by eval over `n` images; absent in a default table. */
  top1?: number;
  n?: number;
}

/** The operating points of one model. */
export interface PointsTable {
  model: string;
  /** Where the accuracies come from (image set and size), or "default". */
  source: string;
  points: OperatingPoint[];
}

/** A malformed operating-points table. */
export class PointsError extends UserError {
  override name = "PointsError";
}

/** Identity of a point (same key = same graph inputs = batchable, same latency). */
export function pointKey(
  p: Pick<OperatingPoint, "method" | "schedule" | "theta" | "resolution">,
): string {
  const theta = p.theta === undefined ? "" : `/${p.theta}`;
  const resolution = p.resolution === undefined ? "" : `@${p.resolution}`;
  return `${p.method}/${p.schedule.join(",")}${theta}${resolution}`;
}

/** Expected accuracy used to rank points: eval's top-1, else less reduction ranks higher. */
export function expectedAccuracy(p: OperatingPoint): number {
  return p.top1 ?? 1 - p.reduction;
}

/** The unmerged point of `config`. */
export function unmergedPoint(config: ViTConfig): OperatingPoint {
  const schedule = Array(config.depth).fill(0);
  return {
    method: "none",
    schedule,
    gmacs: gmacs(config, tokensPerBlock(config, undefined, schedule)),
    reduction: 0,
  };
}

/** ToMe at a target GMACs reduction (no accuracy known). */
function tomePoint(config: ViTConfig, target: number): OperatingPoint {
  const schedule = scheduleForReduction(config, tome, target);
  return {
    method: "tome",
    schedule,
    gmacs: gmacs(config, tokensPerBlock(config, tome, schedule)),
    reduction: reductionOf(config, tome, schedule),
  };
}

/** Reductions of the default table. */
export const DEFAULT_REDUCTIONS = [0.1, 0.2, 0.3, 0.4, 0.5];

/** The table of a model nobody evaluated: unmerged and ToMe at `DEFAULT_REDUCTIONS`. */
export function defaultPoints(config: ViTConfig): PointsTable {
  return {
    model: config.name,
    source: "default",
    points: [unmergedPoint(config), ...DEFAULT_REDUCTIONS.map((t) => tomePoint(config, t))],
  };
}

/**
 * `table` without its points below `lowest` pixels (points at the model's own resolution stay).
 *
 * @example
 * ```ts
 * fromResolution(table, 128); // plans may start at 128 pixels or more
 * fromResolution(table, Infinity); // the model's own resolution only
 * ```
 */
export function fromResolution(table: PointsTable, lowest: number): PointsTable {
  return {
    ...table,
    points: table.points.filter((p) => p.resolution === undefined || p.resolution >= lowest),
  };
}

/** Validates a parsed table (from a file or KV). */
export function checkPoints(value: unknown, where: string): PointsTable {
  const t = value as PointsTable;
  const bad = (why: string) => new PointsError(`${where}: operating points ${why}`);
  if (typeof t?.model !== "string" || typeof t.source !== "string") throw bad("lack model/source");
  if (!Array.isArray(t.points) || t.points.length === 0) throw bad("table is empty");
  for (const p of t.points) {
    if (typeof p?.method !== "string") throw bad("entry lacks a method");
    methodByName(p.method);
    if (!Array.isArray(p.schedule) || !p.schedule.every(Number.isInteger)) {
      throw bad(`entry ${p.method} has no integer schedule`);
    }
    if (p.kind !== undefined && !SCHEDULE_KINDS.includes(p.kind)) {
      throw bad(`entry ${pointKey(p)} has an unknown schedule family ${p.kind}`);
    }
    if (p.resolution !== undefined && !(Number.isInteger(p.resolution) && p.resolution > 0)) {
      throw bad(`entry ${pointKey(p)} has a bad resolution`);
    }
    if (!(p.gmacs > 0) || !(p.reduction >= 0 && p.reduction < 1)) {
      throw bad(`entry ${pointKey(p)} has a bad cost`);
    }
    if (p.top1 !== undefined && !(p.top1 >= 0 && p.top1 <= 1)) {
      throw bad(`entry ${pointKey(p)} has a bad top1`);
    }
  }
  if (!t.points.some((p) => p.method === "none")) throw bad("lack the unmerged point");
  return t;
}
