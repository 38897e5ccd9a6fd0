/**
 * The options of a classify or explain request, declared once: the HTTP API reads them from the
 * query or `X-` headers, `/openapi.json` documents them, and `deno task classify` takes the same
 * ones as flags.
 * @module
 */
import type { RunRequest } from "../budget/budget.ts";
import { ON_MISS, type OnMiss } from "../budget/errors.ts";
import { DEFAULT_METHOD, METHOD_NAMES, METHODS } from "../merge/methods.ts";
import { DEFAULT_REDUCTION } from "../merge/schedule.ts";
import { THETA } from "./model.ts";
import {
  type ChoiceOption,
  type NumberOption,
  OptionError,
  parseNumber,
  parseOption,
  type StringOption,
} from "./spec.ts";

/** Latency budget. */
export const BUDGET_MS: NumberOption = {
  kind: "number",
  name: "budget_ms",
  min: 1,
  max: 60_000,
  description: "Latency budget in ms: the most accurate operating point predicted to fit.",
};

/** What to do when nothing fits the budget. */
export const ON_MISS_OPTION: ChoiceOption<OnMiss> = {
  kind: "choice",
  name: "on_miss",
  choices: ON_MISS,
  default: "best_effort",
  description: "When no operating point fits the budget: run the fastest, or refuse (503).",
};

/** The merge method. */
export const METHOD: ChoiceOption = {
  kind: "choice",
  name: "method",
  choices: METHOD_NAMES,
  description: "Merge method (with a budget: only its points; without: runs it).",
};

/** Target GMACs reduction of a named method. */
export const REDUCTION: NumberOption = {
  kind: "number",
  name: "reduction",
  min: 0,
  max: 0.95,
  default: DEFAULT_REDUCTION,
  description: "Target GMACs reduction of the method (not with budget_ms).",
};

/** Pixels a run resizes the image to first (`atResolution`). */
export const RESOLUTION: NumberOption = {
  kind: "number",
  name: "resolution",
  min: 1,
  max: 4096,
  integer: true,
  description:
    "Pixels the model's input is resized to before the patches are cut: a multiple of the patch " +
    "size up to the model's own (the default). Fewer patches run faster at some accuracy " +
    "(not with budget_ms, which picks it).",
};

/** An explicit merge schedule (what a budgeted answer reports it ran, to explain it). */
export const SCHEDULE: StringOption = {
  kind: "string",
  name: "schedule",
  metavar: "R,R,...",
  description:
    "Tokens merged per block, one integer per block, comma-separated (not with budget_ms or reduction).",
};

/** One block's entry of `schedule`. */
const MERGES: NumberOption = {
  kind: "number",
  name: "schedule",
  min: 0,
  max: 100_000,
  integer: true,
  description: "",
};

/** `schedule`'s value as `r` per block (its length and limits are the model's to check). */
export function parseSchedule(value: string): number[] {
  return value.split(",").map((v) => parseNumber(MERGES, v));
}

/** Classes in the answer. */
export const TOP_K: NumberOption = {
  kind: "number",
  name: "top_k",
  min: 1,
  max: 1000,
  integer: true,
  default: 5,
  description: "Classes to return.",
};

/** The methods `theta` applies to. */
const ADAPTIVE = METHOD_NAMES.filter((m) => METHODS[m]?.adaptive);

/** Every request option, in the order the API documents them. */
export const REQUEST_OPTIONS = [
  BUDGET_MS,
  ON_MISS_OPTION,
  METHOD,
  REDUCTION,
  RESOLUTION,
  SCHEDULE,
  THETA,
  TOP_K,
] as const;

/**
 * A request's options, validated: what the budget runs (`RunRequest`; each absent unless given)
 * less what the server learns itself, plus how many classes to answer.
 */
export interface RequestOptions extends Omit<RunRequest, "pixels" | "explain" | "arrived"> {
  topK: number;
}

/** A number only when given: absent, the caller's own default applies. */
const given = (spec: NumberOption, value: string | undefined) =>
  value === undefined ? undefined : parseNumber(spec, value);

/** Parses the options of one request from `raw` (the raw string of an option, if given). */
export function parseRequestOptions(
  raw: (spec: (typeof REQUEST_OPTIONS)[number]) => string | undefined,
): RequestOptions {
  const schedule = raw(SCHEDULE);
  const options: RequestOptions = {
    budgetMs: parseOption(BUDGET_MS, raw(BUDGET_MS)),
    onMiss: parseOption(ON_MISS_OPTION, raw(ON_MISS_OPTION))!,
    method: parseOption(METHOD, raw(METHOD)),
    reduction: given(REDUCTION, raw(REDUCTION)),
    schedule: schedule === undefined ? undefined : parseSchedule(schedule),
    theta: given(THETA, raw(THETA)),
    resolution: given(RESOLUTION, raw(RESOLUTION)),
    topK: parseOption(TOP_K, raw(TOP_K))!,
  };
  if (options.budgetMs !== undefined && options.resolution !== undefined) {
    throw new OptionError("resolution", "give budget_ms or resolution, not both");
  }
  if (options.budgetMs !== undefined && options.reduction !== undefined) {
    throw new OptionError("reduction", "give budget_ms or reduction, not both");
  }
  if (options.schedule && (options.budgetMs !== undefined || options.reduction !== undefined)) {
    throw new OptionError("schedule", "give schedule without budget_ms and reduction");
  }
  if (options.method === "none" && options.reduction !== undefined) {
    throw new OptionError(
      "reduction",
      "method none merges nothing: reduction needs a merge method",
    );
  }
  if (options.theta !== undefined) {
    // A budget picks each point's own threshold; a method without one would ignore it.
    if (options.budgetMs !== undefined) {
      throw new OptionError("theta", "give budget_ms or theta, not both");
    }
    const name = options.method ?? DEFAULT_METHOD;
    if (!METHODS[name]?.adaptive) {
      throw new OptionError(
        "theta",
        `theta is a threshold of the adaptive methods (${ADAPTIVE.join(", ")}), not of ${name}`,
      );
    }
  }
  return options;
}
