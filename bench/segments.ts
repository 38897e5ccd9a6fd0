/**
 * `deno task bench:segments`: what running a budgeted request in segments costs. The serving
 * graph can stop between groups of blocks so a run re-plans its rest; each segment is one session
 * run, which copies the token state out and back in. This times, batch 1, interleaved per round:
 * the unsegmented graph (one run), and graphs cut every 2, 3, 4 and 6 blocks, each run whole
 * (one call) and in its segments, for the unmerged schedule and ToMe at 33 %. The ratio is the
 * median over rounds of (segmented time / unsegmented time) in the same round.
 * @module
 */
import type { BackendName } from "../lib/backend/session.ts";
import { defaultModelDir, loadModelBundle } from "../lib/checkpoint/bundle.ts";
import {
  integerOption,
  MODEL_FLAG_HELP,
  parseCommand,
  runMain,
  UsageError,
} from "../lib/cli/args.ts";
import { priorFor } from "../lib/kv/priors.ts";
import { methodByName, METHODS } from "../lib/merge/methods.ts";
import { Classifier, type SegmentState } from "../lib/runtime/classifier.ts";
import { quantile, table, writeSection } from "./report.ts";

const USAGE =
  "usage: deno task bench:segments [--model DIR] [--backends wasm,native] [--rounds N] [--no-write]";
const HELP = `${USAGE}

Times runs in segments against the unsegmented graph (batch 1, unmerged and ToMe 33 %), prints a
table and writes it to docs/PERFORMANCE.md (unless --no-write).
${MODEL_FLAG_HELP}
  --backends B   comma-separated (default wasm,native)
  --rounds N     interleaved rounds (default 30)`;

const LENGTHS = [2, 3, 4, 6];

async function main(args: string[]) {
  const { values } = parseCommand(args, {
    model: { type: "string" },
    backends: { type: "string", default: "wasm,native" },
    rounds: { type: "string" },
    "no-write": { type: "boolean" },
  }, HELP);
  const rounds = integerOption(values.rounds, "rounds", 1, 1000) ?? 30;
  const model = values.model ?? defaultModelDir();
  const bundle = await loadModelBundle(model);
  const { config } = bundle;
  const prior = await priorFor(config);
  const tome = methodByName("tome")!;
  const rows: (string | number)[][] = [];
  for (const backend of values.backends.split(",") as BackendName[]) {
    if (!["wasm", "native"].includes(backend)) throw new UsageError(`unknown backend ${backend}`);
    const build = (segments: number | false) =>
      Classifier.fromBundle(bundle, {
        backend,
        prior,
        method: Object.values(METHODS),
        segments,
        // As the server runs on 2 cores (settings.ts `spinPools`).
        spin: false,
      });
    const plain = await build(false);
    const cut = await Promise.all(LENGTHS.map((n) => build(n)));
    const image = new Float32Array(3 * config.imgSize ** 2).map((_, i) => Math.sin(i * 0.37));
    const schedules = {
      unmerged: Array(config.depth).fill(0),
      "tome 33 %": plain.scheduleFor(0.33, {}, tome),
    };
    for (const [label, schedule] of Object.entries(schedules)) {
      const method = label === "unmerged" ? undefined : tome;
      const inSegments = async (c: Classifier) => {
        let from: Float32Array[] | SegmentState = [image];
        for (let end = c.segmentLength;; end = Math.min(config.depth, end + c.segmentLength)) {
          const out = await c.runSegment(from, end, schedule, {}, method);
          if (end === config.depth) return out;
          from = out.state;
        }
      };
      const variants: [string, () => Promise<unknown>][] = [
        ["unsegmented graph", () => plain.run([image], schedule, {}, method)],
        ...cut.flatMap((c, i): [string, () => Promise<unknown>][] => [
          [`cut every ${LENGTHS[i]}, one run`, () => c.run([image], schedule, {}, method)],
          [
            `cut every ${LENGTHS[i]}, ${Math.ceil(config.depth / LENGTHS[i])} runs`,
            () => inSegments(c),
          ],
        ]),
      ];
      const times = variants.map(() => [] as number[]);
      for (let round = -2; round < rounds; round++) {
        for (const [i, [, run]] of variants.entries()) {
          const t0 = performance.now();
          await run();
          if (round >= 0) times[i].push(performance.now() - t0);
        }
      }
      for (const [i, [name]] of variants.entries()) {
        const ratios = times[i].map((t, k) => t / times[0][k]);
        rows.push([
          backend,
          label,
          name,
          quantile(times[i], 0.5).toFixed(2),
          quantile(ratios, 0.5).toFixed(3),
        ]);
      }
    }
    for (const c of [plain, ...cut]) await c.release();
  }
  const md = table(["backend", "schedule", "graph, runs", "ms p50", "vs unsegmented"], rows);
  console.log(md);
  if (!values["no-write"]) {
    await writeSection(
      "docs/PERFORMANCE.md",
      "segments",
      `### What segments cost (${config.name}, batch 1, median of ${rounds} interleaved rounds, ${
        new Date().toISOString().slice(0, 10)
      })

Command: \`deno task bench:segments --model ${model} --rounds ${rounds}\`. Every graph holds
every method's step (as the server's does); "one run" runs the cut graph from block 0 to the
end in one call, "N runs" stops after each segment and feeds the token state back in, as a
budgeted request does. The ratio is the median of the per-round ratio to the unsegmented graph.
Native sessions do not spin here (five are alive at once).

${md}`,
    );
  }
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
