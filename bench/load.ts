/**
 * `deno task bench:load [--model DIR] [--seconds S]`: open-loop load against the server on
 * loopback, with labelled ImageNet images, measured as a client sees it. Each request carries a
 * latency budget drawn uniformly from 0.6x-1.5x the unmerged latency L; arrivals are Poisson at
 * 50/70/90 % of 1000/L per second. Per policy (ours best-effort, ours reject, ours without
 * in-flight re-planning, unmerged, fixed ToMe rates) it reports what was answered and refused,
 * the share of offered requests answered inside their budget, the top-1 of the answers (real
 * labels) and the effective accuracy: correct and inside budget, over every request offered.
 * Prints a table and writes it to docs/PERFORMANCE.md. Runs with --allow-all: it lowers its own
 * threads' priority, which means reading /proc/<pid>/task.
 * @module
 */
import { setPriority } from "node:os";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import {
  integerOption,
  MODEL_FLAG_HELP,
  numberOption,
  parseCommand,
  runMain,
} from "../lib/cli/args.ts";
import { UserError } from "../lib/errors.ts";
import { readLabelsCsv } from "../lib/eval/dataset.ts";
import { defaultModelDir } from "../lib/checkpoint/bundle.ts";
import { quantile, seededRandom, table, writeSection } from "./report.ts";
import { spawnServer } from "./server.ts";
import { SPIN, WORKERS } from "../lib/serve/settings.ts";
import { DEFAULT_THREADS } from "../lib/backend/session.ts";
import { TRIAL_TIME_PRICE, WASM_TIME_PRICE } from "../lib/budget/budget.ts";
import { SESSION_LAYOUTS } from "../lib/runtime/engine.ts";
import { DEFAULT_SEGMENT } from "../lib/vit/graph.ts";

const USAGE = "usage: deno task bench:load [--model DIR] [--seconds S] [--images DIR] " +
  "[--backend B] [--workers N] [--threads T] [--spin S] [--policy NAME] [--latency-ms L] " +
  "[--trace FILE] [--seed S] [--no-write]";

const RATES = [0.5, 0.7, 0.9];
/** Budgeted traffic before the measured cells, so the timing model has seen this load. */
const WARM_UP_SECONDS = 10;
/** Unreported traffic before each cell, at its load (the server's arrival rate catches up). */
const LEAD_IN_SECONDS = 5;

interface Outcome {
  status: number;
  /** Client time from sending to the whole answer. */
  ms: number;
  budget: number;
  correct: boolean;
  answer: Record<string, unknown>;
}

interface Policy {
  name: string;
  /** Server settings (environment) the policy needs. */
  env: Record<string, string>;
  query: (budget: number) => string;
  /** A setting compared with its alternatives (`ours, <trial>`), not one of issue 12's policies. */
  trial?: string;
}

const budgeted = (onMiss: string) => (b: number) => `budget_ms=${b.toFixed(1)}&on_miss=${onMiss}`;
/** Settings compared on the same requests: run only when `--policy` names them. */
const trial = (label: string, env: string, choices: readonly (string | number)[], unit = "") =>
  choices.map((v): Policy => ({
    name: `ours, ${label} ${v}${unit}`,
    env: { [env]: String(v) },
    query: budgeted("best_effort"),
    trial: `ours, ${label}`,
  }));
/** `items` comma-separated in lines of at most `width` characters, each indented by `indent`. */
function wrapList(items: string[], indent: number, width = 100): string {
  const lines = [""];
  for (const item of items) {
    const last = lines.length - 1;
    if (lines[last] && indent + lines[last].length + item.length + 2 > width) lines.push("");
    lines[lines.length - 1] += (lines[lines.length - 1] ? " " : "") + item + ",";
  }
  return lines.map((l) => " ".repeat(indent) + l).join("\n").replace(/,$/, "");
}

/** Issue 12's policies, then the trials. */
const POLICIES: Policy[] = [
  { name: "ours, best effort", env: {}, query: budgeted("best_effort") },
  { name: "ours, reject", env: {}, query: budgeted("reject") },
  {
    name: "ours, no re-planning",
    env: { EDGEMERGE_REPLAN: "off" },
    query: budgeted("best_effort"),
  },
  { name: "unmerged", env: {}, query: () => "" },
  ...[0.33, 0.45, 0.55].map((r) => ({
    name: `fixed tome ${Math.round(r * 100)} %`,
    env: {},
    query: () => `method=tome&reduction=${r}`,
  })),
  ...trial("decode ahead", "EDGEMERGE_DECODE_AHEAD", ["on", "off"]),
  ...trial("spin", "EDGEMERGE_SPIN", ["on", "off"]),
  ...trial("outside", "EDGEMERGE_OUTSIDE_MS", [0, 1.5], " ms"),
  ...trial("sessions", "EDGEMERGE_SESSIONS", SESSION_LAYOUTS),
  ...trial("time price", "EDGEMERGE_TIME_PRICE", [TRIAL_TIME_PRICE, 0]),
  ...trial("price", "EDGEMERGE_TIME_PRICE", [TRIAL_TIME_PRICE, WASM_TIME_PRICE]),
  ...trial("dear price", "EDGEMERGE_TIME_PRICE", [0.5, 1]),
  ...trial("resolutions", "EDGEMERGE_RESOLUTIONS", ["on", "off"]),
  ...trial("min resolution", "EDGEMERGE_MIN_RESOLUTION", [0, 128], " px"),
  ...trial("re-planning", "EDGEMERGE_REPLAN", ["on", "own"]),
  ...trial("segments of", "EDGEMERGE_SEGMENT_BLOCKS", [DEFAULT_SEGMENT, 4], " blocks"),
];

const HELP = `${USAGE}

Starts a server per distinct setting the policies need (KV in memory), waits until they are
calibrated, measures the unmerged latency L a client sees one request at a time, then offers
Poisson arrivals at 0.5, 0.7 and 0.9 x 1000/L per second for S seconds (default 20) per policy,
each request with a budget in [0.6 L, 1.5 L] and a labelled image. The policies of a load take
turns (in reverse order every other load, and from odd to even seeds), each after a 5 s lead-in,
and meet the same requests.
${MODEL_FLAG_HELP}
  --images DIR   labelled JPEGs (labels.csv; default ../shared/data/imagenet-val-dev)
  --backend B    the server's backend (default auto); --workers, --threads, --spin likewise
                 (default: the server's own, ${WORKERS.default} worker x ${DEFAULT_THREADS} threads)
  --latency-ms L use this L instead of measuring it (to compare worker and thread settings
                 at the same offered rate and budgets)
  --trace FILE   also write every request (budget, client ms, the answer) as JSONL
  --seed S       seed of the arrivals, budgets and image order (default 1); every policy
                 meets the same ones in a cell, so policies are compared on equal requests;
                 odd and even seeds take the policies of a load in opposite orders
  --policy NAME  only the policies whose name starts with NAME; without it, issue 12's (ours best
                 effort and reject, ours without re-planning, unmerged, fixed ToMe points).
                 Trials, run only when named (a setting's values in turn):
${wrapList([...new Set(POLICIES.flatMap((p) => p.trial ? [`"${p.trial}"`] : []))], 17)}`;

/** Labelled images (bytes and class), up to 256. */
async function labelled(dir: string): Promise<{ bytes: Uint8Array; label: number }[]> {
  const { files, labels } = await readLabelsCsv(dir);
  const out = [];
  for (let i = 0; i < Math.min(256, files.length); i++) {
    out.push({ bytes: await Deno.readFile(join(dir, files[i])), label: labels[i] });
  }
  return out;
}

async function main(args: string[]) {
  const { values } = parseCommand(args, {
    model: { type: "string" },
    seconds: { type: "string" },
    images: { type: "string" },
    backend: { type: "string", default: "auto" },
    workers: { type: "string" },
    threads: { type: "string" },
    spin: { type: "string" },
    trace: { type: "string" },
    seed: { type: "string" },
    policy: { type: "string" },
    "latency-ms": { type: "string" },
    "no-write": { type: "boolean" },
  }, HELP);
  const model = values.model ?? defaultModelDir();
  const seconds = numberOption(values.seconds, "seconds", 1, 600) ?? 20;
  const seed = integerOption(values.seed, "seed", 0, 1e9) ?? 1;
  const dir = values.images ??
    fileURLToPath(new URL("../../shared/data/imagenet-val-dev", import.meta.url));
  const pictures = await labelled(dir);
  const settings: Record<string, string> = {
    EDGEMERGE_BACKEND: values.backend,
    EDGEMERGE_QUEUE: "64",
    ...(values.workers && { EDGEMERGE_WORKERS: values.workers }),
    ...(values.threads && { EDGEMERGE_THREADS: values.threads }),
    ...(values.spin && { EDGEMERGE_SPIN: values.spin }),
  };
  const policies = values.policy === undefined
    ? POLICIES.filter((p) => !p.trial)
    : POLICIES.filter((p) => p.name.startsWith(values.policy!));
  if (policies.length === 0) throw new UserError(`no policy starts with ${values.policy}`);
  deprioritise();
  const given = numberOption(values["latency-ms"], "latency-ms", 1, 60_000);
  let L = given ?? 0;
  const rows: (string | number)[][] = [];
  // One server per distinct setting, all up at once (an idle one takes no CPU), so the policies
  // of a load take turns within minutes of each other instead of one whole run after another.
  const servers = new Map<string, { url: string; process: Deno.ChildProcess }>();
  try {
    for (const env of new Set(policies.map((p) => JSON.stringify(p.env)))) {
      const port = 19000 + Math.floor(Math.random() * 1000) + servers.size * 1000;
      const url = `http://127.0.0.1:${port}`;
      const process = spawnServer(model, port, { ...settings, ...JSON.parse(env) }, "inherit");
      servers.set(env, { url, process });
      await waitReady(url, process);
    }
    const send = async (url: string, query: string, budget: number, i: number) => {
      const picture = pictures[i % pictures.length];
      const t0 = performance.now();
      const r = await fetch(`${url}/v1/classify?${query}`, {
        method: "POST",
        body: picture.bytes as Uint8Array<ArrayBuffer>,
        headers: { "content-type": "image/jpeg" },
      });
      const body = await r.json();
      const ms = performance.now() - t0;
      return {
        status: r.status,
        ms,
        budget,
        correct: r.status === 200 && body.top_k?.[0]?.index === picture.label,
        answer: { timings: body.timings, point: body.operating_point, error: body.error },
      };
    };
    const urlOf = (p: Policy) => servers.get(JSON.stringify(p.env))!.url;
    if (L === 0) {
      const single: number[] = [];
      const url = urlOf(policies[0]);
      for (let i = 0; i < 30; i++) single.push((await send(url, "", 0, i)).ms);
      L = quantile(single, 0.5);
      console.error(`unmerged latency one at a time: p50 ${L.toFixed(1)} ms`);
    }
    const capacity = 1000 / L;
    /** `seconds` of the cell's traffic (seeded by `cell`) against `policy`'s server. */
    const offer = (policy: Policy, rate: number, cell: number, seconds: number) => {
      const rand = seededRandom(seed + 1 + cell);
      return openLoop(rate * capacity, seconds, rand, (i) => {
        const budget = L * (0.6 + 0.9 * rand());
        return send(urlOf(policy), policy.query(budget), budget, i);
      });
    };
    // Warm-up (not reported): each server's timing model sees traffic like the measured one.
    for (const env of servers.keys()) {
      const first = policies.find((p) => JSON.stringify(p.env) === env)!;
      await offer({ ...first, query: POLICIES[0].query }, 0.7, -1, WARM_UP_SECONDS);
    }
    for (const [cell, rate] of RATES.entries()) {
      // Policies take turns, in the reverse order every other load, so a drift of the machine
      // does not always favour the same one; an odd and an even seed give opposite orders.
      const order = (cell + seed) % 2 === 1 ? policies : [...policies].reverse();
      for (const policy of order) {
        // A short lead-in: the server's arrival rate (its time price) catches up with the load.
        await offer(policy, rate, cell, LEAD_IN_SECONDS);
        // Every policy meets the same arrivals, budgets and images in a cell (paired runs).
        const outcomes = await offer(policy, rate, cell, seconds);
        const ok = outcomes.filter((o) => o.status === 200);
        const inBudget = ok.filter((o) => o.ms <= o.budget);
        const effective = inBudget.filter((o) => o.correct).length;
        const pct = (k: number, of: number) => `${(100 * k / Math.max(1, of)).toFixed(1)} %`;
        const row = [
          `${Math.round(rate * 100)} %`,
          policy.name,
          outcomes.length,
          ok.length,
          outcomes.length - ok.length,
          pct(inBudget.length, outcomes.length),
          pct(ok.filter((o) => o.correct).length, ok.length),
          pct(effective, outcomes.length),
          ok.length ? quantile(ok.map((o) => o.ms), 0.5).toFixed(0) : "-",
          ok.length ? quantile(ok.map((o) => o.ms), 0.99).toFixed(0) : "-",
        ];
        console.error(row.join(" | "));
        if (values.trace) {
          const lines = outcomes.map((o) =>
            JSON.stringify({ load: rate, policy: policy.name, ...o }) + "\n"
          );
          await Deno.writeTextFile(values.trace, lines.join(""), { append: true });
        }
        rows.push(row);
      }
    }
  } finally {
    for (const { process } of servers.values()) {
      terminate(process);
      await process.status;
    }
  }
  const rank = (row: (string | number)[]) => policies.findIndex((p) => p.name === row[1]);
  rows.sort((a, b) => String(a[0]).localeCompare(String(b[0])) || rank(a) - rank(b));
  const out = table(
    [
      "load",
      "policy",
      "offered",
      "answered",
      "refused",
      "in budget (offered)",
      "top-1 of answers",
      "effective accuracy",
      "p50 ms",
      "p99 ms",
    ],
    rows,
  );
  console.log(out);
  if (!values["no-write"]) {
    await writeSection(
      fileURLToPath(new URL("../docs/PERFORMANCE.md", import.meta.url)),
      `load-${values.backend}${values.workers ? `-w${values.workers}` : ""}${
        values.threads ? `-t${values.threads}` : ""
      }${values.spin ? `-spin-${values.spin}` : ""}`,
      [
        `Command: \`deno task bench:load --model ${model} --seconds ${seconds}${
          values.backend !== "auto" ? ` --backend ${values.backend}` : ""
        }${values.workers ? ` --workers ${values.workers}` : ""}${
          values.threads ? ` --threads ${values.threads}` : ""
        }${values.spin ? ` --spin ${values.spin}` : ""}${
          given === undefined ? "" : ` --latency-ms ${given}`
        }${values.policy ? ` --policy "${values.policy}"` : ""}\` (${
          new Date().toISOString().slice(0, 10)
        }).`,
        `Open loop on loopback, ${seconds} s per cell after a ${WARM_UP_SECONDS} s warm-up at`,
        `70 % per server and a ${LEAD_IN_SECONDS} s lead-in per cell; the policies of a load take`,
        `turns and meet the same seeded arrivals, budgets and images (seed ${seed}); Poisson arrivals at a share of 1000/L per second, where L = ${
          L.toFixed(1)
        } ms is`,
        given === undefined
          ? `the unmerged latency a client sees one request at a time (p50); budgets uniform in`
          : `given (--latency-ms: another configuration's measured L); budgets uniform in`,
        `[0.6 L, 1.5 L]; ${pictures.length} labelled ImageNet val images in turn; backend`,
        `${values.backend}, ${values.workers ?? WORKERS.default} worker(s) x ${
          values.threads ?? DEFAULT_THREADS
        } threads, spin ${
          values.spin ?? SPIN.default
        }; the load generator shares the 2 cores at nice 10.`,
        `Client time runs from sending to the whole answer. "in budget" and "effective accuracy"`,
        `(answered correctly and inside the budget) count over every request offered: late and`,
        `refused answers count as misses.\n\n${out}`,
      ].join(" "),
    );
  }
}

/** Sends SIGTERM to `process` unless it has exited already. */
function terminate(process: Deno.ChildProcess): void {
  try {
    process.kill("SIGTERM");
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
  }
}

/** Polls `/readyz` until it answers 200; fails at once if the server exits first. */
async function waitReady(url: string, server: Deno.ChildProcess) {
  let exited: number | undefined;
  server.status.then((s) => exited = s.code);
  const t0 = performance.now();
  while (performance.now() - t0 < 180_000) {
    if (exited !== undefined) {
      throw new UserError(`the server exited with code ${exited} before it was ready (see above)`);
    }
    try {
      const r = await fetch(`${url}/readyz`);
      await r.body?.cancel();
      if (r.status === 200) return;
    } catch (e) {
      if (!(e instanceof TypeError)) throw e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("the server did not become ready in 3 minutes");
}

/**
 * Lowers the load generator's CPU priority (nice 10, every thread; Linux names them in
 * /proc/self/task): a real client runs on another machine, here it would otherwise take cores
 * from the server it measures.
 */
function deprioritise() {
  let threads = [0]; // elsewhere: the calling thread only
  try {
    threads = [...Deno.readDirSync(`/proc/${Deno.pid}/task`)].map((t) => Number(t.name));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  for (const thread of threads) setPriority(thread, 10);
}

/**
 * Fires `request` (the i-th) at Poisson arrivals of `rate` per second for `seconds`, the gaps
 * drawn from `rand` after each request; all outcomes.
 */
async function openLoop(
  rate: number,
  seconds: number,
  rand: () => number,
  request: (i: number) => Promise<Outcome>,
) {
  const pending: Promise<Outcome>[] = [];
  const t0 = performance.now();
  let next = 0;
  while (next < seconds * 1000) {
    const wait = t0 + next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(request(pending.length));
    next += -Math.log(1 - rand()) / rate * 1000;
  }
  return await Promise.all(pending);
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
