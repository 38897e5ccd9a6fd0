/**
 * Shared command-line plumbing: argument parsing with `--help`, usage errors that exit 2, and
 * a progress bar on stderr.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** A bad command line: printed with the usage hint, exit code 2. */
export class UsageError extends Error {
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

/** Runs a CLI main: known errors print one line (usage errors exit 2, others 1). */
export async function runMain(main: () => Promise<void>, usage: string): Promise<void> {
  try {
    await main();
  } catch (e) {
    const err = e as Error;
    const known = [
      "UsageError",
      "ModelNotFoundError",
      "ConfigError",
      "SafetensorsError",
      "BackendError",
      "ImageError",
      "WeightError",
    ];
    if (!known.includes(err.name)) throw e;
    console.error(`error: ${err.message}`);
    if (err.name === "UsageError") console.error(usage);
    Deno.exit(err.name === "UsageError" ? 2 : 1);
  }
}

/** A one-line progress bar on stderr (silent when stderr is not a terminal and `quiet`). */
export class Progress {
  #start = performance.now();
  #done = 0;
  #lastDraw = 0;
  constructor(readonly total: number, readonly label: string) {}

  tick(note = ""): void {
    this.#done++;
    const now = performance.now();
    if (now - this.#lastDraw < 100 && this.#done < this.total) return;
    this.#lastDraw = now;
    const width = 30;
    const filled = Math.round((this.#done / this.total) * width);
    const elapsed = (now - this.#start) / 1000;
    const eta = this.#done ? (elapsed / this.#done) * (this.total - this.#done) : 0;
    const line = `${this.label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ` +
      `${this.#done}/${this.total} ${elapsed.toFixed(0)}s eta ${eta.toFixed(0)}s ${note}`;
    const end = this.#done === this.total ? "\n" : "";
    Deno.stderr.writeSync(new TextEncoder().encode(`\r${line}\x1b[K${end}`));
  }
}
