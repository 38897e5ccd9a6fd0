/**
 * Options declared once: name, type, range, default and description, read by the HTTP parser,
 * `/openapi.json`, the command lines and the environment settings alike. Numbers have one strict
 * syntax everywhere (plain decimals: no hex, no exponent, no blanks).
 *
 * @example
 * ```ts
 * const topK: NumberOption = { kind: "number", name: "top_k", min: 1, max: 1000, integer: true,
 *   default: 5, description: "Classes to return." };
 * parseOption(topK, "3"); // 3
 * parseOption(topK, "0x3"); // throws OptionError
 * ```
 * @module
 */
import { UserError } from "../errors.ts";

interface BaseOption {
  /** snake_case name: the query parameter; `--kebab-case` on command lines. */
  name: string;
  description: string;
  /** Environment variable that sets it (server settings). */
  env?: string;
}

/** A bounded number. */
export interface NumberOption extends BaseOption {
  kind: "number";
  min: number;
  max: number;
  integer?: boolean;
  default?: number;
}

/** One of a fixed list of strings. */
export interface ChoiceOption<T extends string = string> extends BaseOption {
  kind: "choice";
  choices: readonly T[];
  default?: T;
}

/** A free-form string (a path, a URL). */
export interface StringOption extends BaseOption {
  kind: "string";
  /** What the value is, for help texts (`DIR`, `PATH`). */
  metavar: string;
  default?: string;
}

/** Any option. */
export type OptionSpec = NumberOption | ChoiceOption | StringOption;

/** A bad option value; `option` names it, `code` is the API's error code for it. */
export class OptionError extends UserError {
  override name = "OptionError";
  constructor(readonly option: string, message: string, readonly code = "bad_parameter") {
    super(message);
  }
}

/** Plain decimal numbers only: `12`, `-0.5`, `.5`; not `0x10`, `1e3`, `" 50"` or `""`. */
const DECIMAL = /^-?(\d+(\.\d*)?|\.\d+)$/;

/** `n` if it lies within `spec`'s range (and is whole where it must be), else `OptionError`. */
export function checkNumber(spec: NumberOption, n: number, label = spec.name, shown = String(n)) {
  const kind = spec.integer ? "an integer" : "a number";
  if (
    !Number.isFinite(n) || n < spec.min || n > spec.max || (spec.integer && !Number.isInteger(n))
  ) {
    throw new OptionError(
      spec.name,
      `${label} must be ${kind} in [${spec.min}, ${spec.max}], got "${shown}"`,
    );
  }
  return n;
}

/** `value` as a number within `spec`'s range, or `OptionError` naming the option and the rule. */
export function parseNumber(spec: NumberOption, value: string, label = spec.name): number {
  return checkNumber(spec, DECIMAL.test(value) ? Number(value) : NaN, label, value);
}

/** `value` if it is one of `spec`'s choices, else `OptionError` listing them. */
export function parseChoice<T extends string>(
  spec: ChoiceOption<T>,
  value: string,
  label = spec.name,
): T {
  if (spec.choices.includes(value as T)) return value as T;
  throw new OptionError(
    spec.name,
    `unknown ${label} "${value}"; known: ${spec.choices.join(", ")}`,
    `bad_${spec.name}`,
  );
}

/** The command-line flag of an option (`top_k` -> `--top-k`). */
export function flagOf(spec: OptionSpec): string {
  return `--${spec.name.replaceAll("_", "-")}`;
}

/** The `X-` header of an option (`budget_ms` -> `X-Budget-Ms`). */
export function headerOf(spec: OptionSpec): string {
  return `X-${spec.name.split("_").map((w) => w[0].toUpperCase() + w.slice(1)).join("-")}`;
}

/** The type and range of an option in words, for help texts. */
function range(spec: OptionSpec): string {
  if (spec.kind === "string") return spec.metavar;
  if (spec.kind === "choice") return spec.choices.join("|");
  return `${spec.integer ? "integer" : "number"} in [${spec.min}, ${spec.max}]`;
}

/** `text` wrapped to `width` columns, each line indented by `indent`. */
function wrap(text: string, indent: string, width = 96): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && indent.length + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line].map((l) => indent + l).join("\n");
}

/** Help lines for `specs` (flag, range, description, default and environment variable). */
export function helpLines(specs: readonly OptionSpec[]): string {
  return specs.map((s) => {
    const extra = [
      s.default !== undefined ? `default ${s.default}` : "",
      s.env ? `env ${s.env}` : "",
    ].filter(Boolean).join("; ");
    const text = `${s.description}${extra ? ` (${extra})` : ""}`;
    return `  ${flagOf(s)} ${range(s)}\n${wrap(text, "      ")}`;
  }).join("\n");
}

/** The OpenAPI schema of an option. */
export function schemaOf(spec: OptionSpec): Record<string, unknown> {
  if (spec.kind === "string") return { type: "string" };
  if (spec.kind === "choice") {
    return { type: "string", enum: spec.choices, ...(spec.default && { default: spec.default }) };
  }
  return {
    type: spec.integer ? "integer" : "number",
    minimum: spec.min,
    maximum: spec.max,
    ...(spec.default !== undefined && { default: spec.default }),
  };
}

/** `raw` parsed by `spec`'s kind (strings pass as they are). */
function parseValue(spec: OptionSpec, raw: string, label?: string): number | string {
  if (spec.kind === "string") return raw;
  return spec.kind === "number" ? parseNumber(spec, raw, label) : parseChoice(spec, raw, label);
}

/** `raw` parsed by `spec`, else its default: the untyped form of `parseOption`. */
export function parseAny(
  spec: OptionSpec,
  raw: string | undefined,
  label?: string,
): number | string | undefined {
  return raw === undefined ? spec.default : parseValue(spec, raw, label);
}

/** The value of `spec` from `raw` (undefined: the default, if any). */
export function parseOption(
  spec: NumberOption,
  raw: string | undefined,
  label?: string,
): number | undefined;
export function parseOption(
  spec: StringOption,
  raw: string | undefined,
  label?: string,
): string | undefined;
export function parseOption<T extends string>(
  spec: ChoiceOption<T>,
  raw: string | undefined,
  label?: string,
): T | undefined;
export function parseOption(
  spec: OptionSpec,
  raw: string | undefined,
  label?: string,
): number | string | undefined {
  return parseAny(spec, raw, label);
}

/** `node:util` `parseArgs` declarations of `specs` (every value is read as a string). */
export function argsOptions(specs: readonly OptionSpec[]): Record<string, { type: "string" }> {
  return Object.fromEntries(specs.map((s) => [flagOf(s).slice(2), { type: "string" as const }]));
}

/** The raw value of `spec` in `parseArgs` results, else in its environment variable. */
export function rawArg(spec: OptionSpec, values: Record<string, unknown>): string | undefined {
  const v = values[flagOf(spec).slice(2)];
  if (typeof v === "string") return v;
  return spec.env ? Deno.env.get(spec.env) : undefined;
}

/** Where a command-line value came from, for error messages (`--top-k`, or its variable). */
export function argLabel(spec: OptionSpec, values: Record<string, unknown>): string {
  return typeof values[flagOf(spec).slice(2)] === "string" || !spec.env ? flagOf(spec) : spec.env;
}

/** The value of `spec` on a command line: its flag, else its variable, else its default. */
export function argValue(spec: NumberOption, values: Record<string, unknown>): number | undefined;
export function argValue(spec: StringOption, values: Record<string, unknown>): string | undefined;
export function argValue<T extends string>(
  spec: ChoiceOption<T>,
  values: Record<string, unknown>,
): T | undefined;
export function argValue(spec: OptionSpec, values: Record<string, unknown>) {
  return parseAny(spec, rawArg(spec, values), argLabel(spec, values));
}
