/**
 * Bench plumbing: median/percentiles, markdown tables, and rewriting one marked section of a
 * docs file (`<!-- bench:NAME -->` ... `<!-- /bench:NAME -->`) so each bench owns its part.
 * @module
 */

/** The `q`-quantile (0..1) of `values` (nearest rank). */
export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** A markdown table. */
export function table(header: string[], rows: (string | number)[][]): string {
  const width = rows.find((r) => r.length !== header.length);
  if (width) throw new Error(`a row has ${width.length} cells, the header ${header.length}`);
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
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
  const block = `${open}\n${body.trim()}\n${close}`;
  const start = text.indexOf(open), end = text.indexOf(close);
  text = start >= 0 && end > start
    ? text.slice(0, start) + block + text.slice(end + close.length)
    : `${text.trimEnd()}\n\n${block}\n`;
  await Deno.writeTextFile(path, text);
}
