/**
 * The command line's progress bar: an `OnProgress` callback that draws on stderr, redrawn in
 * place on a terminal, one line per 10 % otherwise (logs). A new label starts a new bar.
 * @module
 */
import type { OnProgress } from "../progress.ts";

const WIDTH = 30;

/**
 * A callback drawing one bar per stage.
 *
 * @example
 * ```ts
 * const rows = await evaluate(bundle, data, { ...options, onProgress: progressBar() });
 * ```
 */
export function progressBar(
  stderr: { isTerminal(): boolean; writeSync(b: Uint8Array): number } = Deno.stderr,
): OnProgress {
  const terminal = stderr.isTerminal();
  let label = "", start = 0, lastDraw = 0, lastTenth = -1;
  return (stage, done, total) => {
    const now = performance.now();
    if (stage !== label || done <= 1) [label, start, lastDraw, lastTenth] = [stage, now, 0, -1];
    const finished = total !== undefined && done >= total;
    const tenth = total ? Math.floor((10 * done) / total) : -1;
    if (terminal ? now - lastDraw < 100 && !finished : tenth === lastTenth) return;
    [lastDraw, lastTenth] = [now, tenth];
    const elapsed = (now - start) / 1000;
    let line = `${stage} ${done}`;
    if (total) {
      const filled = Math.round((Math.min(done, total) / total) * WIDTH);
      const eta = done > 0 ? (elapsed / done) * (total - done) : 0;
      line = `${stage} [${"#".repeat(filled)}${"-".repeat(WIDTH - filled)}] ${done}/${total} ` +
        `${elapsed.toFixed(0)}s eta ${eta.toFixed(0)}s`;
    }
    const text = terminal ? `\r${line}\x1b[K${finished ? "\n" : ""}` : `${line}\n`;
    stderr.writeSync(new TextEncoder().encode(text));
  };
}
