// pipeline(): the README's library example, run as it is written (its model path and image are
// swapped for the tiny model and a generated image when ../shared is absent), merges for real.
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { pipeline } from "../lib/pipeline.ts";
import { unmergedGmacs } from "../lib/merge/schedule.ts";
import { tome } from "../lib/merge/tome.ts";
import { tinyModel, writeImageFolder } from "./helpers/fixtures.ts";
import { DEIT_TINY, HAS_SHARED, SHARED } from "./helpers/shared.ts";

const README_MODEL = "../shared/models/deit_tiny_patch16_224";

/** The README's `ts` code block that calls `pipeline(`. */
async function readmeExample(): Promise<string> {
  const readme = await Deno.readTextFile("README.md");
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  const block = blocks.find((b) => b.includes("pipeline("));
  assert.ok(block, "README.md has a ts block calling pipeline(");
  return block;
}

Deno.test("pipeline: the README example runs, and its tokens shrink and GMACs drop", async () => {
  const { root, dir } = await tinyModel();
  const image = HAS_SHARED
    ? `${SHARED}/data/imagenet-sample/n01440764_tench.JPEG`
    : join(await writeImageFolder(join(root, "images"), 1), "img0.png");
  let code = await readmeExample();
  assert.ok(code.includes(README_MODEL) && code.includes('"cat.jpg"'), code);
  code = code.replaceAll('"./lib/', `"${pathToFileURL(Deno.cwd()).href}/lib/`)
    .replaceAll(README_MODEL, HAS_SHARED ? DEIT_TINY : dir)
    .replaceAll('"cat.jpg"', JSON.stringify(image));
  const file = join(root, "readme_example.ts");
  await Deno.writeTextFile(
    file,
    `${code}\nexport const result = { top, gmacs, tokens, classify };\n`,
  );
  const { result } = await import(pathToFileURL(file).href);
  const { config } = result.classify.classifier.bundle;
  assert.ok(result.top.length > 0 && typeof result.top[0].label === "string");
  assert.ok(result.tokens.at(-1) < result.tokens[0], `tokens ${result.tokens}`);
  assert.ok(result.gmacs < unmergedGmacs(config), `gmacs ${result.gmacs}`);
  if (HAS_SHARED) assert.equal(result.top[0].label.split(",")[0], "tench");
  await result.classify.release();
});

Deno.test("pipeline: method by object or name, options per call, bad options are clear", async () => {
  const { root, dir } = await tinyModel();
  const bytes = await Deno.readFile(
    join(await writeImageFolder(join(root, "images"), 1), "img0.png"),
  );
  const byObject = await pipeline({ model: dir, method: tome, backend: "wasm" });
  const byName = await pipeline({ model: dir, method: "tome", reduction: 0.45, backend: "wasm" });
  const a = await byObject(bytes), b = await byName(bytes, { topK: 2 });
  assert.equal(a.method, "tome");
  assert.equal(a.top.length, 5);
  assert.equal(b.top.length, 2);
  assert.ok(b.gmacs < a.gmacs, "0.45 merges more than the default 0.33");
  assert.ok(Math.abs(a.reduction - 0.33) < 0.05 && Math.abs(b.reduction - 0.45) < 0.05);
  const plainCall = await byName(bytes, { reduction: 0 });
  assert.equal(plainCall.tokens[0], plainCall.tokens.at(-1));
  assert.ok(a.timings.totalMs >= a.timings.inferMs);
  await assert.rejects(
    byName(bytes, { reduction: 2 }),
    /reduction must be a number in \[0, 0\.95\]/,
  );
  await assert.rejects(byName(bytes, { topK: 0 }), /topK must be an integer/);
  await assert.rejects(pipeline({ model: dir, method: "magic" }), /unknown method "magic"/);
  const plain = await pipeline({ model: dir, backend: "wasm" });
  const p = await plain(bytes);
  assert.equal(p.method, "none");
  assert.equal(p.tokens[0], p.tokens.at(-1));
  for (const c of [byObject, byName, plain]) await c.release();
});
