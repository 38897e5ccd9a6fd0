/**
 * `deno task bench [--model DIR] [--runs N]`: batch-1 and batch-8 latency of the plain ViT on
 * WASM with 1 and 2 threads. Thread count is fixed per process in onnxruntime-web, so each
 * setting runs in a child process. Prints a table and writes it to docs/PERFORMANCE.md.
 * @module
 */
import { Classifier } from "../lib/runtime/classifier.ts";
import { defaultModelDir } from "../lib/checkpoint/bundle.ts";
import { integerOption, MODEL_FLAG_HELP, parseCommand, runMain } from "../lib/cli/args.ts";
import { quantile, table, writeSection } from "./report.ts";

const USAGE = "usage: deno task bench [--model DIR] [--runs N] [--no-write]";
const HELP = `${USAGE}

Measures plain-ViT latency on WASM (1 and 2 threads, batch 1 and 8), prints a table and
writes it to docs/PERFORMANCE.md (unless --no-write).
${MODEL_FLAG_HELP}
  --runs N       timed runs per setting (default 20)`;

interface Row {
  threads: number;
  batch: number;
  p50: number;
  p90: number;
  perImage: number;
}

async function child(model: string, threads: number, runs: number): Promise<Row[]> {
  const c = await Classifier.load({ model, backend: "wasm", threads });
  const { imgSize } = c.bundle.config;
  const image = new Float32Array(3 * imgSize * imgSize).map((_, i) => Math.sin(i) * 0.5);
  const rows: Row[] = [];
  for (const batch of [1, 8]) {
    const inputs = Array(batch).fill(image);
    for (let i = 0; i < 3; i++) await c.run(inputs);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await c.run(inputs);
      times.push(performance.now() - t0);
    }
    const p50 = quantile(times, 0.5);
    rows.push({ threads, batch, p50, p90: quantile(times, 0.9), perImage: p50 / batch });
  }
  return rows;
}

async function main(args: string[]) {
  const { values } = parseCommand(args, {
    model: { type: "string" },
    runs: { type: "string" },
    child: { type: "string" },
    "no-write": { type: "boolean" },
  }, HELP);
  const model = values.model ?? defaultModelDir();
  const runs = integerOption(values.runs, "runs", 1, 10000) ?? 20;
  if (values.child) {
    console.log(JSON.stringify(await child(model, Number(values.child), runs)));
    return;
  }
  const rows: Row[] = [];
  for (const threads of [1, 2]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-env",
        import.meta.filename!,
        "--model",
        model,
        "--runs",
        `${runs}`,
        "--child",
        `${threads}`,
      ],
      stderr: "inherit",
    }).output();
    if (!out.success) throw new Error(`bench child (threads ${threads}) failed`);
    rows.push(...JSON.parse(new TextDecoder().decode(out.stdout)));
    console.error(`threads ${threads} done`);
  }
  const md = table(
    ["backend", "threads", "batch", "p50 ms", "p90 ms", "ms / image"],
    rows.map((
      r,
    ) => ["wasm", r.threads, r.batch, r.p50.toFixed(1), r.p90.toFixed(1), r.perImage.toFixed(1)]),
  );
  console.log(md);
  if (!values["no-write"]) {
    await writeSection(
      "docs/PERFORMANCE.md",
      "latency",
      `### Plain ViT latency (${model.split("/").pop()}, ${runs} runs, ${
        new Date().toISOString().slice(0, 10)
      })

Command: \`deno task bench --model ${model} --runs ${runs}\`

${md}`,
    );
  }
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
