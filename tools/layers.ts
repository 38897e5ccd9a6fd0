/**
 * The layering check: every import between the project's units (folders of `lib/`, root files of
 * `lib/`, `workers/`, `bench/`, `main.ts`) must point to a strictly lower layer, and no files may
 * import each other in a circle. The layers are read from the `layers` block of
 * `docs/ARCHITECTURE.md`, top layer first, so the document and the check cannot drift apart.
 *
 * ```sh
 * deno task layers        # exits 1 and names each offending import
 * ```
 * @module
 */
import { dirname, join, normalize, relative } from "node:path";

/** Imports of each file (paths relative to the repository root, `/`-separated). */
export type ImportGraph = Map<string, string[]>;

/** The unit (a folder or a file listed in the layers) a file belongs to, if any. */
export function unitOf(file: string, units: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const unit of units) {
    const inside = file === unit || file.startsWith(`${unit}/`);
    if (inside && (!best || unit.length > best.length)) best = unit;
  }
  return best;
}

/** The layers of a `layers` fenced block, top first, each a list of units. */
export function parseLayers(markdown: string): string[][] {
  const block = markdown.match(/```layers\n([\s\S]*?)```/);
  if (!block) throw new Error("docs/ARCHITECTURE.md has no ```layers block");
  return block[1].split("\n").map((l) => l.trim().split(/\s+/).filter(Boolean)).filter((l) =>
    l.length > 0
  );
}

/** Circles of imports among `files`, each as the list of files around it. */
function cycles(graph: ImportGraph): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === "open") found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return found;
}

/**
 * Every violation of `layers` (top first) in `graph`: imports into a higher or the same layer
 * (between different units), files outside every unit, and import circles.
 */
export function checkImports(graph: ImportGraph, layers: string[][]): string[] {
  const rank = new Map<string, number>();
  layers.forEach((units, i) => units.forEach((u) => rank.set(u, layers.length - i)));
  const units = [...rank.keys()];
  const problems: string[] = [];
  for (const [file, imports] of [...graph].sort(([a], [b]) => a.localeCompare(b))) {
    const from = unitOf(file, units);
    if (!from) {
      problems.push(`${file}: not in any layer of docs/ARCHITECTURE.md`);
      continue;
    }
    for (const target of imports) {
      const to = unitOf(target, units);
      if (!to || to === from) continue;
      const [a, b] = [rank.get(from)!, rank.get(to)!];
      if (b > a) problems.push(`${file} imports ${target}: ${from} may not import ${to} (upward)`);
      if (b === a) {
        problems.push(`${file} imports ${target}: ${from} and ${to} share a layer (sideways)`);
      }
    }
  }
  for (const circle of cycles(graph)) problems.push(`import cycle: ${circle.join(" -> ")}`);
  return problems;
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*|new URL\(\s*)["'](\.{1,2}\/[^"']+\.ts)["']/g;

/** The relative `.ts` imports of a source text, resolved against `file`. */
export function importsOf(file: string, text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(SPECIFIER)) out.add(normalize(join(dirname(file), m[1])));
  return [...out];
}

/** The import graph of the checked sources under `root` (tests and tools are not layered). */
export async function readGraph(root: string): Promise<ImportGraph> {
  const graph: ImportGraph = new Map();
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(join(root, dir))) {
      const path = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory) {
        if (["lib", "workers", "bench"].includes(path.split("/")[0])) await walk(path);
      } else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) {
        if (path.includes("/") || path === "main.ts") {
          const text = await Deno.readTextFile(join(root, path));
          graph.set(path, importsOf(path, text).map((p) => relative(".", p)));
        }
      }
    }
  };
  await walk("");
  return graph;
}

if (import.meta.main) {
  const root = join(dirname(new URL(import.meta.url).pathname), "..");
  const layers = parseLayers(await Deno.readTextFile(join(root, "docs/ARCHITECTURE.md")));
  const problems = checkImports(await readGraph(root), layers);
  for (const p of problems) console.error(p);
  if (problems.length > 0) {
    console.error(`${problems.length} layering problem(s); see docs/ARCHITECTURE.md`);
    Deno.exit(1);
  }
  console.log(`layers ok: ${layers.length} layers`);
}
