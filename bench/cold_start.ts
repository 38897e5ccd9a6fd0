/**
 * `deno task bench:cold [--model DIR] [--runs N]`: serverless cold start, measured from spawning
 * `main.ts` to the first answered `/v1/classify`, with an empty graph cache (first start on a
 * fresh instance) and with a filled one (every later start). Prints a table and writes it to
 * docs/PERFORMANCE.md.
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { integerOption, MODEL_FLAG_HELP, parseCommand, runMain } from "../lib/cli/args.ts";
import { encodePng } from "../lib/image/encode.ts";
import { defaultModelDir } from "../lib/checkpoint/bundle.ts";
import { quantile, table, writeSection } from "./report.ts";
import { spawnServer } from "./server.ts";

const USAGE = "usage: deno task bench:cold [--model DIR] [--runs N] [--no-write]";
const HELP = `${USAGE}

Starts the server N times (default 5) with an empty and with a filled graph cache and reports
process start -> first answered request (WASM, KV in memory); writes the table to
docs/PERFORMANCE.md (unless --no-write).
${MODEL_FLAG_HELP}`;

function testImage(): Uint8Array {
  const side = 256, rgba = new Uint8Array(side * side * 4);
  for (let i = 0; i < side * side; i++) rgba.set([i % side, i / side, 128, 255], 4 * i);
  return encodePng(rgba, side, side);
}

/** Milliseconds from spawn to the first 200 from /v1/classify. */
async function coldStart(model: string, cache: string, port: number, image: Uint8Array) {
  const t0 = performance.now();
  const child = spawnServer(model, port, {
    EDGEMERGE_GRAPH_CACHE: cache,
    EDGEMERGE_BACKEND: "wasm",
  });
  try {
    while (true) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/v1/classify`, {
          method: "POST",
          body: image as Uint8Array<ArrayBuffer>,
          headers: { "content-type": "image/png" },
        });
        await r.body?.cancel();
        if (r.status === 200) return performance.now() - t0;
        throw new Error(`first request answered ${r.status}`);
      } catch (e) {
        if (!(e instanceof TypeError)) throw e; // TypeError: not listening yet
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}

async function main(args: string[]) {
  const { values } = parseCommand(args, {
    model: { type: "string" },
    runs: { type: "string" },
    "no-write": { type: "boolean" },
  }, HELP);
  const model = values.model ?? defaultModelDir();
  const runs = integerOption(values.runs, "runs", 1, 100) ?? 5;
  const image = testImage();
  const port = 18000 + Math.floor(Math.random() * 1000);
  await coldStart(model, "off", port, image); // warms the OS file cache and Deno's caches
  const empty: number[] = [], filled: number[] = [];
  for (let i = 0; i < runs; i++) {
    const cache = await Deno.makeTempDir();
    empty.push(await coldStart(model, join(cache, "graphs"), port, image));
    filled.push(await coldStart(model, join(cache, "graphs"), port, image));
    await Deno.remove(cache, { recursive: true });
    console.log(
      `run ${i + 1}/${runs}: empty cache ${empty.at(-1)!.toFixed(0)} ms, ` +
        `filled ${filled.at(-1)!.toFixed(0)} ms`,
    );
  }
  const row = (name: string, t: number[]) => [
    name,
    quantile(t, 0.5).toFixed(0),
    Math.min(...t).toFixed(0),
    Math.max(...t).toFixed(0),
  ];
  const out = table(
    ["graph cache", "p50 ms", "min ms", "max ms"],
    [row("empty (first start)", empty), row("filled (restart)", filled)],
  );
  console.log(out);
  if (!values["no-write"]) {
    await writeSection(
      fileURLToPath(new URL("../docs/PERFORMANCE.md", import.meta.url)),
      "cold-start",
      `Process spawn -> first answered \`POST /v1/classify\` (256x256 PNG, unmerged), ` +
        `${runs} starts each, WASM, 1 worker, KV in memory. Command: \`deno task bench:cold\`.\n\n${out}`,
    );
  }
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
