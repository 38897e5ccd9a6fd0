/**
 * `deno task bench:profile [--model DIR] [--method M] [--reduction P] [--block B] [--runs N]`:
 * where the time of one run goes, per node, from onnxruntime's own profiler (native backend).
 * Prints the time per part of the model (embed, attention, merge, MLP, head) summed over blocks,
 * the op types of the merge steps, and every node of one block's merge step.
 * @module
 */
import { join } from "node:path";
import { defaultModelDir, loadModelBundle } from "../lib/checkpoint/bundle.ts";
import {
  integerOption,
  MODEL_FLAG_HELP,
  numberOption,
  parseCommand,
  runMain,
  UsageError,
} from "../lib/cli/args.ts";
import { priorFor } from "../lib/kv/priors.ts";
import { methodByName } from "../lib/merge/methods.ts";
import { Classifier } from "../lib/runtime/classifier.ts";
import { table, writeSection } from "./report.ts";

const USAGE = "usage: deno task bench:profile [--model DIR] [--method M] [--reduction P] " +
  "[--block B] [--runs N] [--threads T] [--no-write]";
const HELP = `${USAGE}

Runs one method (default tome) at a target reduction (default 0.33) N times (default 50) on the
native backend with onnxruntime's profiler on, and prints the mean time per run: by part of the
model, by op type inside the merge steps, and node by node for block B's merge step (default 5).
The tables are also written to docs/PERFORMANCE.md (unless --no-write).
${MODEL_FLAG_HELP}
  --threads T    threads of the session (default: the native backend's own, 2)`;

/** One event of ORT's profile (Chrome trace format). */
interface ProfileEvent {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string };
}

/** The part of the model a node belongs to, from its scope (`b3.merge/...`). */
function partOf(node: string): string {
  const m = node.match(/^b\d+\.(attn|merge|mlp)\//);
  return m ? m[1] : node.startsWith("b") && /^b\d+\./.test(node) ? "block" : "embed/head";
}

async function main(args: string[]) {
  const { values } = parseCommand(args, {
    model: { type: "string" },
    method: { type: "string" },
    reduction: { type: "string" },
    block: { type: "string" },
    runs: { type: "string" },
    threads: { type: "string" },
    "no-write": { type: "boolean" },
  }, HELP);
  const runs = integerOption(values.runs, "runs", 1, 10_000) ?? 50;
  const block = integerOption(values.block, "block", 0, 63) ?? 5;
  const target = numberOption(values.reduction, "reduction", 0, 0.95) ?? 0.33;
  const name = values.method ?? "tome";
  const method = methodByName(name);
  const bundle = await loadModelBundle(values.model ?? defaultModelDir());
  const dir = await Deno.makeTempDir();
  const prefix = join(dir, "profile");
  const classifier = await Classifier.fromBundle(bundle, {
    backend: "native",
    threads: integerOption(values.threads, "threads", 1, 64),
    method,
    prior: await priorFor(bundle.config),
    profile: prefix,
  });
  const schedule = classifier.scheduleFor(method ? target : 0);
  const { imgSize } = bundle.config;
  const image = new Float32Array(3 * imgSize ** 2).map((_, i) => Math.sin(i * 0.37));
  for (let i = 0; i < 5; i++) await classifier.run([image], schedule);
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await classifier.run([image], schedule);
  const wall = (performance.now() - t0) / runs;
  await classifier.release();
  const file = [...Deno.readDirSync(dir)].find((e) => e.name.endsWith(".json"));
  if (!file) throw new UsageError("onnxruntime wrote no profile");
  const events: ProfileEvent[] = JSON.parse(await Deno.readTextFile(join(dir, file.name)));
  const nodes = events.filter((e) => e.cat === "Node" && e.name.endsWith("_kernel_time"));
  const perRun = (us: number) => us / 1000 / (runs + 5);
  const sum = (keyOf: (e: ProfileEvent) => string, filter = (_: ProfileEvent) => true) => {
    const totals = new Map<string, { us: number; count: number }>();
    for (const e of nodes.filter(filter)) {
      const k = keyOf(e);
      const t = totals.get(k) ?? { us: 0, count: 0 };
      totals.set(k, { us: t.us + e.dur, count: t.count + 1 });
    }
    return [...totals].sort((a, b) => b[1].us - a[1].us);
  };
  const node = (e: ProfileEvent) => e.name.replace(/_kernel_time$/, "");
  const kernelMs = perRun(nodes.reduce((s, e) => s + e.dur, 0));
  const out: string[] = [];
  const say = (text: string) => (console.log(text), out.push(text));
  say(
    `${name} at ${target} (schedule ${schedule.join(",")}), native, ${runs} runs: ` +
      `${wall.toFixed(2)} ms per run wall-clock, ${kernelMs.toFixed(2)} ms in kernels ` +
      `(the profiler's own cost is in both)`,
  );
  const runsTotal = runs + 5;
  say("\nBy part of the model (all blocks):\n");
  say(table(
    ["part", "ms / run", "nodes / run"],
    sum((e) => partOf(node(e))).map((
      [k, t],
    ) => [k, perRun(t.us).toFixed(3), (t.count / runsTotal).toFixed(0)]),
  ));
  const inMerge = (e: ProfileEvent) => partOf(node(e)) === "merge";
  say("\nMerge steps by op type (all blocks; If counts its branches' nodes too):\n");
  say(table(
    ["op", "ms / run", "nodes / run", "µs / node"],
    sum((e) => e.args?.op_name ?? "?", inMerge).map(([k, t]) => [
      k,
      perRun(t.us).toFixed(3),
      (t.count / runsTotal).toFixed(0),
      (t.us / t.count).toFixed(1),
    ]),
  ));
  say(`\nBlock ${block}'s merge step, node by node:\n`);
  say(table(
    ["node", "op", "µs / run"],
    sum((e) => `${node(e)}|${e.args?.op_name}`, (e) => node(e).startsWith(`b${block}.merge/`))
      .map(([k, t]) => [...k.split("|"), (t.us / runsTotal).toFixed(1)]),
  ));
  await Deno.remove(dir, { recursive: true });
  if (!values["no-write"]) {
    await writeSection(
      "docs/PERFORMANCE.md",
      "profile",
      `### Where a merged run's time goes (onnxruntime's profiler, native, ${
        new Date().toISOString().slice(0, 10)
      })

Command: \`deno task bench:profile --model ${values.model ?? "DIR"} --method ${name} ` +
        `--reduction ${target} --block ${block}\`` + `

${out.join("\n")}`,
    );
  }
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
