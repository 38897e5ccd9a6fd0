/**
 * Shared command-line plumbing: argument parsing with `--help`, and usage errors that exit 2.
 * @module
 */
import { UserError } from "../errors.ts";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { MODEL_DIR } from "../options/model.ts";
import { helpLines, type NumberOption, OptionError, parseNumber } from "../options/spec.ts";

/** The `--model` lines of a one-model command's help. */
export const MODEL_FLAG_HELP = helpLines([MODEL_DIR]);

/** A bad command line: printed with the usage hint, exit code 2. */
export class UsageError extends UserError {
  override name = "UsageError";
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parses `args`; prints `help` and exits on `--help`; throws `UsageError` on bad input, and on
 * arguments without a flag unless the command takes them (`positionals`).
 */
export function parseCommand<O extends Options>(
  args: string[],
  options: O,
  help: string,
  positionals = false,
) {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(help.trim());
    Deno.exit(0);
  }
  try {
    return parseArgs({ args, options, allowPositionals: positionals, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** A number flag of a bench or tool: undefined when absent, `OptionError` when out of range. */
export function numberOption(
  value: string | undefined,
  name: string,
  min = -Infinity,
  max = Infinity,
  integer = false,
): number | undefined {
  const spec: NumberOption = { kind: "number", name, min, max, integer, description: "" };
  return value === undefined ? undefined : parseNumber(spec, value, `--${name}`);
}

/** A count flag (runs, rounds, a seed): `numberOption` that must also be whole. */
export function integerOption(
  value: string | undefined,
  name: string,
  min = -Infinity,
  max = Infinity,
): number | undefined {
  return numberOption(value, name, min, max, true);
}

/** A file the command was pointed at is missing or unreadable: the user's error, not a bug. */
const FILE_ERRORS = [Deno.errors.NotFound, Deno.errors.PermissionDenied, Deno.errors.IsADirectory];

/** Runs a CLI main: known errors print one line (usage errors exit 2, others 1). */
export async function runMain(main: () => Promise<void>, usage: string): Promise<void> {
  try {
    await main();
  } catch (e) {
    if (FILE_ERRORS.some((kind) => e instanceof kind)) {
      console.error(`error: ${(e as Error).message}`);
      Deno.exit(1);
    }
    if (!(e instanceof UserError)) throw e;
    console.error(`error: ${e.message}`);
    const usageError = e instanceof UsageError || e instanceof OptionError;
    if (usageError) console.error(usage);
    Deno.exit(usageError ? 2 : 1);
  }
}
