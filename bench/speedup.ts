/**
 * `deno task bench:speedup`: wall-clock speedup of every merge method at ~23/33/45 % GMACs
 * reduction against the unmerged graph, per backend and batch size, in one run. Configurations
 * are timed round-robin (one run of each per round) and each round's time is divided into the
 * same round's unmerged time, so a slow spell of the shared machine hits both sides of a ratio;
 * the table reports medians, the ideal (GMACs) speedup, their ratio, and the GMAC/s achieved
 * against the backend's peak (a large MatMul timed the same way).
 * @module
 */
import type { BackendName } from "../lib/backend/session.ts";
import { createSession } from "../lib/backend/session.ts";
import { defaultModelDir, loadModelBundle } from "../lib/checkpoint/bundle.ts";
import { numberOption, parseCommand, runMain, UsageError } from "../lib/cli/args.ts";
import { priorFor } from "../lib/kv/priors.ts";
import { pointsInDir } from "../lib/kv/points.ts";
import { METHOD_NAMES, methodByName } from "../lib/merge/methods.ts";
import { unmergedGmacs } from "../lib/merge/schedule.ts";
import { GraphBuilder } from "../lib/onnx/builder.ts";
import { Classifier } from "../lib/runtime/classifier.ts";
import { quantile, table, writeSection } from "./report.ts";

const USAGE = "usage: deno task bench:speedup [--model DIR] [--image FILE] [--rounds N] " +
  "[--backends wasm,native] [--batches 1,8] [--methods LIST] [--threads T] [--no-write]";
const HELP = `${USAGE}

Times each method at 23/33/45 % target reduction against the unmerged model, on each backend and
batch size, prints a table and writes it to docs/PERFORMANCE.md (unless --no-write). Adaptive
methods run at the theta of the shipped operating points (priors/points/) when there is one.
  --image FILE   the input (default: a photo from ../shared when present, else a pattern)
  --rounds N     interleaved rounds (default 15)
  --threads T    threads per session (default: the backends' own, 2)`;

const TARGETS = [0.23, 0.33, 0.45];
const SAMPLE = new URL("../../shared/data/imagenet-sample/n01440764_tench.JPEG", import.meta.url);

interface Config {
  backend: BackendName;
  method: string;
  target: number;
  classifier: Classifier;
  schedule: number[];
  feeds: Record<string, { data: Float32Array; dims: number[] }>;
  gmacs?: number;
  times: number[];
}

/** GMAC/s of a 1024x1024x1024 MatMul: the practical peak of a backend at `threads`. */
async function peakGmacs(backend: BackendName, threads?: number): Promise<number> {
  const n = 1024;
  const g = new GraphBuilder();
  const a = g.input("a", "float32", [n, n]);
  const w = g.initializer("w", {
    dtype: "float32",
    dims: [n, n],
    data: new Float32Array(n * n).map((_, i) => Math.sin(i)),
  });
  g.output(g.op("MatMul", [a, w]), "y");
  const session = await createSession(g.toModel(), { backend, threads });
  const feeds = { a: { data: new Float32Array(n * n).fill(0.5), dims: [n, n] } };
  for (let i = 0; i < 2; i++) await session.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t0);
  }
  await session.release();
  return n ** 3 / 1e9 / (quantile(times, 0.5) / 1000);
}

async function main(args: string[]) {
  const { values } = parseCommand(args, {
    model: { type: "string" },
    image: { type: "string" },
    rounds: { type: "string" },
    backends: { type: "string", default: "wasm,native" },
    batches: { type: "string", default: "1,8" },
    methods: { type: "string", default: METHOD_NAMES.filter((m) => m !== "none").join(",") },
    threads: { type: "string" },
    "no-write": { type: "boolean" },
  }, HELP);
  const model = values.model ?? defaultModelDir();
  const rounds = numberOption(values.rounds, "rounds", 1, 1000) ?? 15;
  const threads = numberOption(values.threads, "threads", 1, 64);
  const backends = values.backends.split(",") as BackendName[];
  for (const b of backends) {
    if (!["wasm", "native", "webgpu"].includes(b)) throw new UsageError(`unknown backend ${b}`);
  }
  const batches = values.batches.split(",").map((v) => numberOption(v, "batches", 1, 64)!);
  const methods = values.methods.split(",").map((m) => (methodByName(m), m));
  const bundle = await loadModelBundle(model);
  const { config } = bundle;
  const prior = await priorFor(config);
  const table0 = (await pointsInDir()).find((t) => t.model === config.name);
  const imagePath = values.image ?? SAMPLE;
  const bytes = await Deno.readFile(imagePath).catch(() => undefined);
  const rows: (string | number)[][] = [];
  const peaks: string[] = [];
  for (const backend of backends) {
    const peak = await peakGmacs(backend, threads);
    peaks.push(`${backend}: ${peak.toFixed(1)} GMAC/s`);
    const plain = await Classifier.fromBundle(bundle, { backend, threads });
    const image = bytes
      ? await plain.prepare(bytes)
      : new Float32Array(3 * config.imgSize ** 2).map((_, i) => Math.sin(i * 0.37));
    const configs: Config[] = [{
      backend,
      method: "none",
      target: 0,
      classifier: plain,
      schedule: Array(config.depth).fill(0),
      feeds: {},
      times: [],
    }];
    for (const name of methods) {
      const method = methodByName(name)!;
      const classifier = await Classifier.fromBundle(bundle, { backend, threads, method, prior });
      for (const target of TARGETS) {
        // Adaptive methods: the shipped point nearest the target (its schedule and theta).
        const point = method.adaptive
          ? table0?.points.filter((p) => p.method === name && p.theta !== undefined)
            .sort((a, b) => Math.abs(a.reduction - target) - Math.abs(b.reduction - target))[0]
          : undefined;
        configs.push({
          backend,
          method: name,
          target,
          classifier,
          schedule: point?.schedule ?? classifier.scheduleFor(target),
          feeds: point?.theta !== undefined
            ? { theta: { data: Float32Array.of(point.theta), dims: [1] } }
            : {},
          times: [],
        });
      }
    }
    for (const batch of batches) {
      const inputs = Array(batch).fill(image);
      for (const c of configs) {
        c.times = [];
        for (let i = 0; i < 2; i++) {
          const [out] = await c.classifier.run(inputs, c.schedule, c.feeds);
          c.gmacs = out.gmacs;
        }
      }
      for (let round = 0; round < rounds; round++) {
        for (const c of configs) {
          const t0 = performance.now();
          await c.classifier.run(inputs, c.schedule, c.feeds);
          c.times.push(performance.now() - t0);
        }
        console.error(`${backend} batch ${batch}: round ${round + 1}/${rounds}`);
      }
      const base = configs[0];
      const full = unmergedGmacs(config);
      for (const c of configs) {
        const ms = quantile(c.times, 0.5);
        const speedup = quantile(c.times.map((t, k) => base.times[k] / t), 0.5);
        const ideal = full / c.gmacs!;
        const rate = (c.gmacs! * batch) / (ms / 1000);
        rows.push([
          backend,
          batch,
          c.method,
          c.method === "none" ? "-" : `${Math.round(100 * c.target)}%`,
          (ms / batch).toFixed(1),
          `${speedup.toFixed(2)}x`,
          `${ideal.toFixed(2)}x`,
          c.method === "none" ? "-" : (speedup / ideal).toFixed(2),
          rate.toFixed(1),
          `${((100 * rate) / peak).toFixed(0)}%`,
        ]);
      }
    }
    for (const c of new Set(configs.map((c) => c.classifier))) await c.release();
  }
  const md = table([
    "backend",
    "batch",
    "method",
    "target",
    "ms / image",
    "speedup",
    "ideal (GMACs)",
    "speedup / ideal",
    "GMAC/s",
    "of peak",
  ], rows);
  console.log(md);
  console.log(`peak (1024^3 MatMul, same threads): ${peaks.join(", ")}`);
  if (!values["no-write"]) {
    await writeSection(
      "docs/PERFORMANCE.md",
      "speedup",
      `### Merge speedup vs unmerged (${config.name}, median of ${rounds} interleaved rounds, ${
        new Date().toISOString().slice(0, 10)
      })

Command: \`deno task bench:speedup --model ${model} --rounds ${rounds}${
        threads ? ` --threads ${threads}` : ""
      }\`. Input: ${bytes ? String(imagePath).split("/").pop() : "a synthetic pattern"}.
Speedup is the median over rounds of (unmerged time / method time) in the same round; the ideal
is unmerged GMACs / the run's GMACs. The peak is a 1024x1024x1024 MatMul timed on the same
backend and threads (${peaks.join(", ")}); GMAC/s counts the model's MACs only.

${md}`,
    );
  }
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
