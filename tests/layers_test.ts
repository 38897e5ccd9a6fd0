// The layering check over the import graph: the real tree passes, and a fake graph with an
// upward import, a sideways import, a file outside every layer and a cycle fails on each.
import assert from "node:assert/strict";
import { checkImports, importsOf, parseLayers, readGraph } from "../tools/layers.ts";

const LAYERS = parseLayers(await Deno.readTextFile("docs/ARCHITECTURE.md"));

Deno.test("layers: the project's imports all point down, without cycles", async () => {
  assert.deepEqual(checkImports(await readGraph("."), LAYERS), []);
});

Deno.test("layers: an upward import, a sideways one, an unlisted file and a cycle are named", () => {
  const layers = [["lib/serve", "lib/cli"], ["lib/budget"], ["lib/onnx"]];
  const graph = new Map([
    ["lib/onnx/builder.ts", ["lib/budget/points.ts"]],
    ["lib/budget/points.ts", ["lib/onnx/builder.ts"]],
    ["lib/serve/app.ts", ["lib/cli/args.ts", "lib/budget/points.ts"]],
    ["lib/cli/args.ts", []],
    ["lib/stray/x.ts", []],
  ]);
  const problems = checkImports(graph, layers);
  assert.ok(
    problems.includes(
      "lib/onnx/builder.ts imports lib/budget/points.ts: lib/onnx may not import lib/budget (upward)",
    ),
    problems.join("\n"),
  );
  assert.ok(
    problems.some((p) => /lib\/serve\/app\.ts imports lib\/cli\/args\.ts.*sideways/.test(p)),
  );
  assert.ok(problems.some((p) => /lib\/stray\/x\.ts: not in any layer/.test(p)));
  assert.ok(
    problems.includes(
      "import cycle: lib/budget/points.ts -> lib/onnx/builder.ts -> lib/budget/points.ts",
    ),
    problems.join("\n"),
  );
  // The downward import serve -> budget is fine.
  assert.ok(!problems.some((p) => /app\.ts imports lib\/budget/.test(p)));
});

Deno.test("layers: a cycle of files inside one folder is found too", () => {
  const graph = new Map([
    ["lib/vit/a.ts", ["lib/vit/b.ts"]],
    ["lib/vit/b.ts", ["lib/vit/a.ts"]],
  ]);
  assert.deepEqual(checkImports(graph, [["lib/vit"]]), [
    "import cycle: lib/vit/a.ts -> lib/vit/b.ts -> lib/vit/a.ts",
  ]);
});

Deno.test("layers: imports are read from static, dynamic, type and re-export forms", () => {
  const text = [
    'import { a } from "../x/a.ts";',
    'import type { B } from "./b.ts";',
    'export { c } from "./c.ts";',
    'const d = await import("../../d.ts");',
    'import jpeg from "imagescript/wasm/node/jpeg.js";',
  ].join("\n");
  assert.deepEqual(importsOf("lib/m/file.ts", text).sort(), [
    "d.ts",
    "lib/m/b.ts",
    "lib/m/c.ts",
    "lib/x/a.ts",
  ]);
});
