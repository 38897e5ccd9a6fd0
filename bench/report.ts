/**
 * Bench plumbing: median/percentiles, seeded random streams, markdown tables, and rewriting one marked section of a
 * docs file (`<!-- bench:NAME -->` ... `<!-- /bench:NAME -->`) so each bench owns its part.
 * @module
 */

/** The `q`-quantile (0..1) of `values` (nearest rank). */
export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * A seeded uniform generator on [0, 1) (mulberry32): the same seed gives the same stream, so
 * runs repeat and the policies of one comparison meet the same requests.
 * @example
 * ```ts
 * const a = seededRandom(7), b = seededRandom(7);
 * a() === b(); // true
 * ```
 */
export function seededRandom(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A markdown table, its columns padded as `deno fmt` pads them so a bench's docs stay formatted.
 * @example
 * ```ts
 * table(["method", "ms"], [["tome", 12.5]]);
 * // | method | ms   |\n| ------ | ---- |\n| tome   | 12.5 |
 * ```
 */
export function table(header: string[], rows: (string | number)[][]): string {
  const ragged = rows.find((r) => r.length !== header.length);
  if (ragged) throw new Error(`a row has ${ragged.length} cells, the header ${header.length}`);
  const cells = [header, ...rows].map((row) => row.map(String));
  const widths = header.map((_, i) => Math.max(3, ...cells.map((row) => row[i].length)));
  const line = (row: string[]) => `| ${row.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  const rule = `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`;
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join("\n");
}

/** Replaces (or appends) the section `name` of the markdown file `path`. */
export async function writeSection(path: string, name: string, body: string): Promise<void> {
  const open = `<!-- bench:${name} -->`, close = `<!-- /bench:${name} -->`;
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const block = `${open}\n\n${body.trim()}\n\n${close}`; // blank lines: as `deno fmt` leaves them
  const start = text.indexOf(open), end = text.indexOf(close);
  text = start >= 0 && end > start
    ? text.slice(0, start) + block + text.slice(end + close.length)
    : `${text.trimEnd()}\n\n${block}\n`;
  await Deno.writeTextFile(path, text);
}
