/**
 * `deno task bench:speedup`: wall-clock speedup of every merge method at ~23/33/45 % GMACs
 * reduction (or `--targets`, in each `--schedule-kind` family) against the unmerged graph, per backend
 * and batch size, in one run. Configurations are timed round-robin (one run of each per round)
 * and each round's time is divided into the same round's unmerged time, so a slow spell of the
 * shared machine hits both sides of a ratio; the table reports medians, the ideal (GMACs)
 * speedup, their ratio, and the GMAC/s achieved against the backend's peak (a large MatMul timed
 * the same way).
 * @module
 */
import type { BackendName } from "../lib/backend/session.ts";
import { createSession } from "../lib/backend/session.ts";
import { defaultModelDir, loadModelBundle } from "../lib/checkpoint/bundle.ts";
import { atResolution } from "../lib/checkpoint/config.ts";
import {
  integerOption,
  MODEL_FLAG_HELP,
  numberOption,
  parseCommand,
  runMain,
  UsageError,
} from "../lib/cli/args.ts";
import { priorFor } from "../lib/kv/priors.ts";
import { pointsInDir } from "../lib/kv/points.ts";
import { METHOD_NAMES, methodByName, METHODS } from "../lib/merge/methods.ts";
import type { MergeMethod } from "../lib/merge/step.ts";
import type { ModelBundle } from "../lib/checkpoint/bundle.ts";
import type { SaliencyPrior } from "../lib/saliency/prior.ts";
import {
  clampSchedule,
  resolutionReduction,
  SCHEDULE_KINDS,
  type ScheduleKind,
  unmergedGmacs,
} from "../lib/merge/schedule.ts";
import { GraphBuilder } from "../lib/onnx/builder.ts";
import { buildViTGraph } from "../lib/vit/graph.ts";
import { Classifier } from "../lib/runtime/classifier.ts";
import { quantile, table, writeSection } from "./report.ts";

/** Target reductions timed unless `--targets` says otherwise. */
const DEFAULT_TARGETS = "0.23,0.33,0.45";

const USAGE = "usage: deno task bench:speedup [--model DIR] [--image FILE] [--rounds N] " +
  "[--backends wasm,native] [--batches 1,8] [--methods LIST] [--threads T] [--schedule-kind KINDS] " +
  "[--targets LIST] [--resolutions LIST] [--no-write]";
const HELP = `${USAGE}

Times each method at 23/33/45 % target reduction (--targets) against the unmerged model, on each
backend and batch size, prints a table and writes it to docs/PERFORMANCE.md (unless --no-write).
Adaptive methods run at the theta of the shipped operating points (priors/points/) when there is
one.
${MODEL_FLAG_HELP}
  --backends B   comma-separated (default wasm,native)
  --batches N    batch sizes, comma-separated (default 1,8)
  --methods LIST merge methods, comma-separated (default every one but none; unmerged always runs)
  --image FILE   the input (default: a photo from ../shared when present, else a pattern)
  --rounds N     interleaved rounds (default 15)
  --threads T    threads per session (default: the backends' own, 2)
  --schedule-kind K  schedule families of the non-adaptive methods, comma-separated, each timed
                 in the same rounds: ${SCHEDULE_KINDS.join(", ")}
                 (default constant; the free-step table always runs ToMe's constant one)
  --targets LIST target GMACs reductions, comma-separated (default ${DEFAULT_TARGETS})
  --resolutions LIST  also time the non-adaptive methods at these lower resolutions (pixels,
                 comma-separated): unmerged there, and at each target above what the resolution
                 alone saves (default none)`;

const SAMPLE = new URL("../../shared/data/imagenet-sample/n01440764_tench.JPEG", import.meta.url);

interface Config {
  backend: BackendName;
  method: MergeMethod | undefined;
  target: number;
  /** The schedule family (adaptive methods and unmerged: none). */
  kind?: ScheduleKind;
  /** Pixels the run starts at, below the model's own. */
  resolution?: number;
  schedule: number[];
  feeds: Record<string, { data: Float32Array; dims: number[] }>;
  gmacs?: number;
  times: number[];
}

/** Every measurement of one backend (run in a process of its own: see `main`). */
async function measureBackend(
  backend: BackendName,
  bundle: ModelBundle,
  settings: {
    threads?: number;
    rounds: number;
    batches: number[];
    methods: string[];
    kinds: ScheduleKind[];
    targets: number[];
    resolutions: number[];
  },
  bytes: Uint8Array | undefined,
): Promise<BackendResult> {
  const { threads, rounds, batches, methods, kinds, targets, resolutions } = settings;
  const { config } = bundle;
  const prior = await priorFor(config);
  const table0 = (await pointsInDir()).find((t) => t.model === config.name);
  const rows: (string | number)[][] = [];
  const peak = await peakGmacs(backend, threads);
  const overhead = await zeroOverhead(bundle, backend, threads, prior, rounds);
  const free = await freeStep(bundle, backend, threads, rounds, targets);
  // One session for every method, as the server runs them; unmerged is its method none.
  const classifier = await Classifier.fromBundle(bundle, {
    backend,
    threads,
    prior,
    method: Object.values(METHODS),
    segments: true,
  });
  const image = bytes
    ? await classifier.prepare(bytes)
    : new Float32Array(3 * config.imgSize ** 2).map((_, i) => Math.sin(i * 0.37));
  const configs: Config[] = [{
    backend,
    method: undefined,
    target: 0,
    schedule: Array(config.depth).fill(0),
    feeds: {},
    times: [],
  }];
  for (const name of methods) {
    const method = methodByName(name)!;
    for (const target of targets) {
      if (method.adaptive) {
        // The shipped point nearest the target (its schedule and theta).
        const point = table0?.points.filter((p) => p.method === name && p.theta !== undefined)
          .sort((a, b) => Math.abs(a.reduction - target) - Math.abs(b.reduction - target))[0];
        configs.push({
          backend,
          method,
          target,
          schedule: point?.schedule ?? classifier.scheduleFor(target, {}, method),
          feeds: point?.theta !== undefined
            ? { theta: { data: Float32Array.of(point.theta), dims: [1] } }
            : {},
          times: [],
        });
        continue;
      }
      for (const kind of kinds) {
        const schedule = classifier.scheduleFor(target, { kind }, method);
        configs.push({ backend, method, target, kind, schedule, feeds: {}, times: [] });
      }
    }
    if (method.adaptive) continue;
    for (const resolution of resolutions) {
      const least = resolutionReduction(config, resolution);
      for (const target of [least, ...targets.filter((t) => t > least + 0.01)]) {
        for (const kind of kinds) {
          const schedule = classifier.scheduleFor(target, { kind, resolution }, method);
          configs.push({
            backend,
            method,
            target,
            kind,
            resolution,
            schedule,
            feeds: {},
            times: [],
          });
        }
      }
    }
  }
  for (const batch of batches) {
    const inputs = Array(batch).fill(image);
    for (const c of configs) {
      c.times = [];
      for (let i = 0; i < 2; i++) {
        const [out] = await classifier.run(inputs, c.schedule, c.feeds, c.method, c.resolution);
        c.gmacs = out.gmacs;
      }
    }
    for (let round = 0; round < rounds; round++) {
      for (const c of configs) {
        const t0 = performance.now();
        await classifier.run(inputs, c.schedule, c.feeds, c.method, c.resolution);
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
      const name = c.method?.name ?? "none";
      rows.push([
        backend,
        batch,
        name,
        c.method ? `${Math.round(100 * c.target)}%` : "-",
        c.kind ?? "-",
        c.resolution ?? config.imgSize,
        (ms / batch).toFixed(1),
        `${speedup.toFixed(2)}x`,
        `${ideal.toFixed(2)}x`,
        c.method ? (speedup / ideal).toFixed(2) : "-",
        rate.toFixed(1),
        `${((100 * rate) / peak).toFixed(0)}%`,
      ]);
    }
  }
  await classifier.release();
  return { rows, peak, overhead, free };
}

/** What one backend's measurements give. */
interface BackendResult {
  rows: (string | number)[][];
  peak: number;
  overhead: (string | number)[];
  /** `freeStep`'s rows. */
  free: (string | number)[][];
}

/** Plain graph vs one method's graph vs the shared graph, at r = 0 (native: no spinning, as served). */
async function zeroOverhead(
  bundle: ModelBundle,
  backend: BackendName,
  threads: number | undefined,
  prior: SaliencyPrior | undefined,
  rounds: number,
): Promise<(string | number)[]> {
  const options = { backend, threads, prior, spin: false };
  const graphs = [
    await Classifier.fromBundle(bundle, options),
    await Classifier.fromBundle(bundle, { ...options, method: methodByName("tome") }),
    await Classifier.fromBundle(bundle, {
      ...options,
      method: Object.values(METHODS),
      segments: true,
    }),
  ];
  const input = new Float32Array(3 * bundle.config.imgSize ** 2).map((_, i) => Math.sin(i));
  const times = graphs.map(() => [] as number[]);
  for (const c of graphs) await c.run([input]);
  for (let round = 0; round < rounds * 2; round++) {
    for (const [i, c] of graphs.entries()) {
      const t0 = performance.now();
      await c.run([input]);
      times[i].push(performance.now() - t0);
    }
  }
  for (const c of graphs) await c.release();
  const ratio = (i: number) => quantile(times[0].map((t, k) => t / times[i][k]), 0.5).toFixed(3);
  return [backend, quantile(times[0], 0.5).toFixed(1), ratio(1), ratio(2)];
}

/**
 * What a free merge step would give, batch 1: the plain graph, ToMe's graph and the truncate
 * baseline (ToMe's schedule, each block keeping its first N - r tokens: the same token counts
 * with no matching or merging), all sessions live and spinning. They are timed in blocks of runs
 * (the first two of each block dropped: a session's first runs after another's find other weights
 * in the cache); each ratio is the median over rounds of the block medians' ratio.
 */
async function freeStep(
  bundle: ModelBundle,
  backend: BackendName,
  threads: number | undefined,
  rounds: number,
  targets: number[],
): Promise<(string | number)[][]> {
  const tome = methodByName("tome")!;
  const plain = await Classifier.fromBundle(bundle, { backend, threads });
  const merged = await Classifier.fromBundle(bundle, { backend, threads, method: tome });
  const truncated = await createSession(
    buildViTGraph(bundle, tome, { truncate: true }),
    { backend, threads },
  );
  const { depth, imgSize } = bundle.config;
  const input = new Float32Array(3 * imgSize ** 2).map((_, i) => Math.sin(i));
  const runs: { target: number; kind: string; run: () => Promise<unknown> }[] = [
    { target: 0, kind: "plain", run: () => plain.run([input]) },
  ];
  const gmacsAt = new Map<number, number>();
  for (const target of targets) {
    const schedule = merged.scheduleFor(target, {}, tome);
    gmacsAt.set(target, (await merged.run([input], schedule))[0].gmacs);
    const feeds = {
      pixel_values: { data: input, dims: [1, 3, imgSize, imgSize] },
      // As the merged graph will run it: ToMe's cap, so truncation keeps the same tokens.
      r: {
        data: BigInt64Array.from(clampSchedule(bundle.config, tome, schedule), BigInt),
        dims: [depth],
      },
      resolution: { data: BigInt64Array.of(BigInt(imgSize)), dims: [1] },
    };
    runs.push(
      { target, kind: "tome", run: () => merged.run([input], schedule) },
      { target, kind: "free", run: () => truncated.run(feeds) },
    );
  }
  const medians = runs.map(() => [] as number[]);
  for (const r of runs) await r.run();
  for (let round = 0; round < rounds; round++) {
    for (const [i, r] of runs.entries()) {
      const times: number[] = [];
      for (let k = 0; k < 8; k++) {
        const t0 = performance.now();
        await r.run();
        times.push(performance.now() - t0);
      }
      medians[i].push(quantile(times.slice(2), 0.5));
    }
    console.error(`${backend} free step: round ${round + 1}/${rounds}`);
  }
  await Promise.all([plain.release(), merged.release(), truncated.release()]);
  const speedup = (i: number) => quantile(medians[0].map((t, k) => t / medians[i][k]), 0.5);
  const full = unmergedGmacs(bundle.config);
  return targets.map((target) => {
    const at = (kind: string) => runs.findIndex((r) => r.target === target && r.kind === kind);
    const ideal = full / gmacsAt.get(target)!;
    const [tomeUp, freeUp] = [speedup(at("tome")), speedup(at("free"))];
    // The step's time as a share of the plain run: (tome - free) / plain, per round.
    const step = quantile(
      medians[0].map((t, k) => (medians[at("tome")][k] - medians[at("free")][k]) / t),
      0.5,
    );
    return [
      backend,
      `${Math.round(100 * target)}%`,
      `${ideal.toFixed(2)}x`,
      `${tomeUp.toFixed(2)}x`,
      (tomeUp / ideal).toFixed(2),
      `${freeUp.toFixed(2)}x`,
      (freeUp / ideal).toFixed(2),
      `${(100 * step).toFixed(1)}%`,
    ];
  });
}

/** GEMM shapes `[m, k, n]` the peak is the best of: a large square one and the model's MLP. */
const PEAK_SHAPES = [[1024, 1024, 1024], [8 * 197, 192, 768], [8 * 197, 768, 192]];

/**
 * The practical peak of a backend at `threads`: the best GMAC/s of a MatMul over `PEAK_SHAPES`
 * (weights as initializers, as in the model; the fastest of 7 runs each: a peak,
 * so a slow spell of the shared machine must not lower it).
 */
async function peakGmacs(backend: BackendName, threads?: number): Promise<number> {
  let best = 0;
  for (const [m, k, n] of PEAK_SHAPES) {
    const g = new GraphBuilder();
    const a = g.input("a", "float32", [m, k]);
    const w = g.initializer("w", {
      dtype: "float32",
      dims: [k, n],
      data: new Float32Array(k * n).map((_, i) => Math.sin(i)),
    });
    g.output(g.op("MatMul", [a, w]), "y");
    const session = await createSession(g.toModel(), { backend, threads });
    const feeds = { a: { data: new Float32Array(m * k).fill(0.5), dims: [m, k] } };
    for (let i = 0; i < 2; i++) await session.run(feeds);
    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      await session.run(feeds);
      times.push(performance.now() - t0);
    }
    await session.release();
    best = Math.max(best, (m * k * n) / 1e9 / (Math.min(...times) / 1000));
  }
  return best;
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
    "schedule-kind": { type: "string", default: "constant" },
    targets: { type: "string", default: DEFAULT_TARGETS },
    resolutions: { type: "string", default: "" },
    "no-write": { type: "boolean" },
    child: { type: "boolean" },
  }, HELP);
  const model = values.model ?? defaultModelDir();
  const rounds = integerOption(values.rounds, "rounds", 1, 1000) ?? 15;
  const threads = integerOption(values.threads, "threads", 1, 64);
  const backends = values.backends.split(",") as BackendName[];
  for (const b of backends) {
    if (!["wasm", "native", "webgpu"].includes(b)) throw new UsageError(`unknown backend ${b}`);
  }
  const batches = values.batches.split(",").map((v) => integerOption(v, "batches", 1, 64)!);
  const methods = values.methods.split(",").map((m) => (methodByName(m), m));
  const bundle = await loadModelBundle(model);
  const { config } = bundle;
  const imagePath = values.image ?? SAMPLE;
  const bytes = await Deno.readFile(imagePath).catch(() => undefined);
  const kinds = values["schedule-kind"].split(",") as ScheduleKind[];
  for (const kind of kinds) {
    if (!SCHEDULE_KINDS.includes(kind)) throw new UsageError(`unknown schedule ${kind}`);
  }
  const targets = values.targets.split(",").map((v) => numberOption(v, "targets", 0, 0.95)!);
  const resolutions = values.resolutions.split(",").filter(Boolean).map((v) => {
    const resolution = integerOption(v, "resolutions", 1, 4096)!;
    atResolution(config, resolution);
    return resolution;
  });
  const settings = { threads, rounds, batches, methods, kinds, targets, resolutions };
  const results: BackendResult[] = [];
  if (values.child) {
    const result = await measureBackend(backends[0], bundle, settings, bytes);
    console.log(JSON.stringify(result));
    return;
  }
  for (const backend of backends) {
    // A process per backend: onnxruntime-web's threads outlive its sessions and would compete
    // with the native ones.
    const child = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL(import.meta.url).pathname,
        ...args.filter((a, i) => a !== "--backends" && args[i - 1] !== "--backends"),
        "--backends",
        backend,
        "--child",
      ],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    if (!child.success) throw new UsageError(`the ${backend} measurement failed`);
    results.push(JSON.parse(new TextDecoder().decode(child.stdout).trim().split("\n").at(-1)!));
  }
  const rows = results.flatMap((r) => r.rows);
  const peaks = results.map((r, i) => `${backends[i]}: ${r.peak.toFixed(1)} GMAC/s`);
  const overheads = results.map((r) => r.overhead);
  const md = table([
    "backend",
    "batch",
    "method",
    "target",
    "schedule",
    "px",
    "ms / image",
    "speedup",
    "ideal (GMACs)",
    "speedup / ideal",
    "GMAC/s",
    "of peak",
  ], rows);
  const zero = table(
    ["backend", "plain ms", "one method, r = 0", "every method, r = 0"],
    overheads,
  );
  const floor = table([
    "backend",
    "target",
    "ideal (GMACs)",
    "ToMe",
    "ToMe / ideal",
    "free step",
    "free step / ideal",
    "ToMe's step, of plain time",
  ], results.flatMap((r) => r.free));
  console.log(md);
  console.log(`peak (best MatMul, same threads): ${peaks.join(", ")}`);
  console.log(zero);
  console.log(floor);
  if (!values["no-write"]) {
    await writeSection(
      "docs/PERFORMANCE.md",
      "speedup",
      `### Merge speedup vs unmerged (${config.name}, median of ${rounds} interleaved rounds, ${
        new Date().toISOString().slice(0, 10)
      })

Command: \`deno task bench:speedup --model ${model} --rounds ${rounds}${
        threads ? ` --threads ${threads}` : ""
      }${
        values["schedule-kind"] === "constant" ? "" : ` --schedule-kind ${values["schedule-kind"]}`
      }${values.targets === DEFAULT_TARGETS ? "" : ` --targets ${values.targets}`}${
        values.resolutions ? ` --resolutions ${values.resolutions}` : ""
      }\`. Input: ${bytes ? String(imagePath).split("/").pop() : "a synthetic pattern"}.
All methods run in one session (as the server runs them: one graph with every method's step,
picked per run); unmerged is that session's method none. Speedup is the median over rounds of
(unmerged time / method time) in the same round; the ideal is unmerged GMACs / the run's GMACs.
The peak is the best of MatMuls (1024^3 and the model's batch-8 MLP shapes) timed on the same
backend and threads (${peaks.join(", ")}); GMAC/s counts the model's MACs only.

${md}

What merging costs when it merges nothing, batch 1: the plain graph against a graph with one
method's step and against the shared graph with every method, all at r = 0, as the median of the
per-round ratio (plain time / graph time; 1.00 = no cost). Native sessions here do not spin, as the
server's do on 2 cores.

${zero}

What a free merge step would reach, batch 1: ToMe's graph against the truncate baseline, which
runs ToMe's schedule with each block keeping its first N - r tokens (the same token counts, no
matching or merging; \`GraphOptions.truncate\`), both as speedup over the plain graph. The
sessions spin and are timed in blocks of 8 runs (the first 2 dropped: a session's first runs after
another's find other weights in the cache); the last column is (ToMe - free) / plain time.

${floor}`,
    );
  }
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
