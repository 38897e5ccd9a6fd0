/**
 * `deno task bench:speedup [--model DIR] [--rounds N]`: wall-clock speedup of every merge method
 * at ~23/33/45 % GMACs reduction against the unmerged graph, WASM, batch 1 and 8, in one run.
 * Configurations are timed round-robin (one run of each per round) so machine noise hits them
 * alike; the table reports the median and the ratio to the ideal (GMACs) speedup.
 * @module
 */
import { Classifier } from "../lib/runtime/classifier.ts";
import { numberOption, parseCommand, runMain } from "../lib/cli/args.ts";
import { METHODS } from "../lib/merge/methods.ts";
import { reductionOf } from "../lib/merge/schedule.ts";
import { defaultModelDir, loadModelBundle } from "../lib/checkpoint/bundle.ts";
import { quantile, table, writeSection } from "./report.ts";

const USAGE = "usage: deno task bench:speedup [--model DIR] [--rounds N] [--no-write]";
const HELP = `${USAGE}

Times each method (SAD-TM with the shipped prior) at 23/33/45 % target reduction against the unmerged model (WASM, 2 threads,
batch 1 and 8), prints a table and writes it to docs/PERFORMANCE.md (unless --no-write).`;

interface Config {
  name: string;
  target: number;
  classifier: Classifier;
  schedule: number[];
  ideal: number;
}

async function main(args: string[]) {
  const { values } = parseCommand(args, {
    model: { type: "string" },
    rounds: { type: "string" },
    "no-write": { type: "boolean" },
  }, HELP);
  const model = values.model ?? defaultModelDir();
  const rounds = numberOption(values.rounds, "rounds", 1, 1000) ?? 15;
  const bundle = await loadModelBundle(model);
  const { config } = bundle;
  const plain = await Classifier.fromBundle(bundle, { backend: "wasm" });
  const configs: Config[] = [
    { name: "none", target: 0, classifier: plain, schedule: Array(config.depth).fill(0), ideal: 1 },
  ];
  for (const method of Object.values(METHODS)) {
    const classifier = await Classifier.fromBundle(bundle, { backend: "wasm", method });
    for (const target of [0.23, 0.33, 0.45]) {
      const schedule = classifier.scheduleFor(target);
      const ideal = 1 / (1 - reductionOf(config, method, schedule));
      configs.push({ name: method.name, target, classifier, schedule, ideal });
    }
  }
  const image = new Float32Array(3 * config.imgSize ** 2).map((_, i) => Math.sin(i * 0.37));
  const rows: (string | number)[][] = [];
  for (const batch of [1, 8]) {
    const inputs = Array(batch).fill(image);
    const times = configs.map(() => [] as number[]);
    for (const c of configs) for (let i = 0; i < 2; i++) await c.classifier.run(inputs, c.schedule);
    for (let round = 0; round < rounds; round++) {
      for (const [i, c] of configs.entries()) {
        const t0 = performance.now();
        await c.classifier.run(inputs, c.schedule);
        times[i].push(performance.now() - t0);
      }
      console.error(`batch ${batch}: round ${round + 1}/${rounds}`);
    }
    const base = quantile(times[0], 0.5);
    configs.forEach((c, i) => {
      const ms = quantile(times[i], 0.5);
      const speedup = base / ms;
      rows.push([
        batch,
        c.name,
        c.name === "none" ? "-" : `${100 * c.target}%`,
        (ms / batch).toFixed(1),
        `${speedup.toFixed(2)}x`,
        `${c.ideal.toFixed(2)}x`,
        c.name === "none" ? "-" : (speedup / c.ideal).toFixed(2),
      ]);
    });
  }
  const md = table([
    "batch",
    "method",
    "target",
    "ms / image",
    "speedup",
    "ideal (GMACs)",
    "speedup / ideal",
  ], rows);
  console.log(md);
  if (!values["no-write"]) {
    await writeSection(
      "docs/PERFORMANCE.md",
      "speedup",
      `### Merge speedup vs unmerged (${config.name}, WASM 2 threads, median of ${rounds} interleaved rounds, ${
        new Date().toISOString().slice(0, 10)
      })

Command: \`deno task bench:speedup --model ${model} --rounds ${rounds}\`

${md}`,
    );
  }
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
