/**
 * Shared command-line plumbing: argument parsing with `--help`, usage errors that exit 2, and
 * a progress bar on stderr.
 * @module
 */
import { UserError } from "../errors.ts";
import { parseArgs, type ParseArgsConfig } from "node:util";

/** A bad command line: printed with the usage hint, exit code 2. */
export class UsageError extends UserError {
  override name = "UsageError";
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parses `args`; prints `help` and exits on `--help`; throws `UsageError` on bad input. */
export function parseCommand<O extends Options>(args: string[], options: O, help: string) {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(help.trim());
    Deno.exit(0);
  }
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** A number option: undefined when absent, `UsageError` when not a number in range. */
export function numberOption(
  value: string | undefined,
  name: string,
  min = -Infinity,
  max = Infinity,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a number in [${min}, ${max}], got "${value}"`);
  }
  return n;
}

/** A sign option (`1` or `-1`): undefined when absent, `UsageError` otherwise. */
export function signOption(value: string | undefined, name: string): 1 | -1 | undefined {
  if (value === undefined) return undefined;
  if (value !== "1" && value !== "-1") throw new UsageError(`--${name} must be 1 or -1`);
  return value === "1" ? 1 : -1;
}

/** Runs a CLI main: known errors print one line (usage errors exit 2, others 1). */
export async function runMain(main: () => Promise<void>, usage: string): Promise<void> {
  try {
    await main();
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    console.error(`error: ${e.message}`);
    if (e instanceof UsageError) console.error(usage);
    Deno.exit(e instanceof UsageError ? 2 : 1);
  }
}

/**
 * A progress bar on stderr: redrawn in place on a terminal, one line per 10 % otherwise (logs).
 */
export class Progress {
  #start = performance.now();
  #done = 0;
  #lastDraw = 0;
  #terminal = Deno.stderr.isTerminal();
  constructor(readonly total: number, readonly label: string) {}

  tick(): void {
    this.#done++;
    const now = performance.now();
    const finished = this.#done === this.total;
    if (this.#terminal ? now - this.#lastDraw < 100 && !finished : !this.#crossesTenth()) return;
    this.#lastDraw = now;
    const width = 30;
    const filled = Math.round((this.#done / this.total) * width);
    const elapsed = (now - this.#start) / 1000;
    const eta = (elapsed / this.#done) * (this.total - this.#done);
    const line = `${this.label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ` +
      `${this.#done}/${this.total} ${elapsed.toFixed(0)}s eta ${eta.toFixed(0)}s`;
    const text = this.#terminal ? `\r${line}\x1b[K${finished ? "\n" : ""}` : `${line}\n`;
    Deno.stderr.writeSync(new TextEncoder().encode(text));
  }

  #crossesTenth(): boolean {
    return Math.floor((10 * this.#done) / this.total) >
      Math.floor((10 * (this.#done - 1)) / this.total);
  }
}
