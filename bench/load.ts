/**
 * `deno task bench:load [--model DIR] [--seconds S]`: open-loop load against the running server
 * on loopback. Each request carries a latency budget drawn uniformly from 0.6x-1.5x the
 * unmerged latency. Policies compared at the same arrival rates (fractions of the unmerged
 * capacity): budgets (the server chooses; on_miss=reject, then best_effort), every request
 * unmerged, and fixed merge rates. Prints a table and writes it to docs/PERFORMANCE.md. Runs
 * with --allow-all: it lowers its own threads' priority, which means reading /proc/<pid>/task.
 * @module
 */
import { setPriority } from "node:os";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { numberOption, parseCommand, runMain } from "../lib/cli/args.ts";
import { UserError } from "../lib/errors.ts";
import { encodePng } from "../lib/image/encode.ts";
import { defaultModelDir } from "../lib/checkpoint/bundle.ts";
import { quantile, table, writeSection } from "./report.ts";
import { spawnServer } from "./server.ts";

const USAGE =
  "usage: deno task bench:load [--model DIR] [--seconds S] [--images DIR] [--policy NAME] [--trace FILE] [--no-write]";
const HELP = `${USAGE}

Starts the server (1 worker, WASM, KV in memory), waits until it is calibrated, measures the
unmerged latency L and capacity C (closed loop), then offers Poisson arrivals at 0.5, 0.7 and
0.9 C for S seconds (default 20) per policy, each request with a budget in [0.6 L, 1.5 L].
  --images DIR   JPEGs to send (default ../shared/data/imagenet-sample, else a synthetic PNG)
  --trace FILE   also write every request (budget, client ms, the answer's timings) as JSONL
  --policy NAME  only the policies whose name starts with NAME (budget, unmerged, fixed)`;

const RATES = [0.5, 0.7, 0.9];
/** Budgeted traffic before the measured cells, long enough for the bound's rescaling to start. */
const WARM_UP_SECONDS = 15;

interface Outcome {
  status: number;
  ms: number;
  budget: number;
  expected?: number;
  /** The server's own total and prediction (answered requests). */
  serverMs?: number;
  predictedMs?: number;
  /** The answer's `timings` and `operating_point`, or its `error` (for `--trace`). */
  answer: Record<string, unknown>;
}

interface Policy {
  name: string;
  query: (budget: number) => string;
}

async function images(dir: string | undefined): Promise<{ bytes: Uint8Array; type: string }[]> {
  const from = dir ?? fileURLToPath(new URL("../../shared/data/imagenet-sample", import.meta.url));
  const out = [];
  try {
    for await (const e of Deno.readDir(from)) {
      if (/\.jpe?g$/i.test(e.name)) {
        out.push({ bytes: await Deno.readFile(join(from, e.name)), type: "image/jpeg" });
      }
      if (out.length === 64) break;
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (out.length > 0) return out;
  const side = 400, rgba = new Uint8Array(side * side * 4);
  for (let i = 0; i < side * side; i++) rgba.set([i % side, i / side, 90, 255], 4 * i);
  return [{ bytes: encodePng(rgba, side, side), type: "image/png" }];
}

async function main(args: string[]) {
  const { values } = parseCommand(args, {
    model: { type: "string" },
    seconds: { type: "string" },
    images: { type: "string" },
    trace: { type: "string" },
    policy: { type: "string" },
    "no-write": { type: "boolean" },
  }, HELP);
  const model = values.model ?? defaultModelDir();
  const seconds = numberOption(values.seconds, "seconds", 1, 600) ?? 20;
  const pictures = await images(values.images);
  const port = 19000 + Math.floor(Math.random() * 1000);
  const url = `http://127.0.0.1:${port}`;
  const server = spawnServer(model, port, { EDGEMERGE_QUEUE: "64" }, "inherit");
  try {
    await waitReady(url);
    deprioritise();
    const table_ = (await (await fetch(`${url}/v1/models`)).json()).models[0].operating_points;
    const accuracyOf = (method: string, reduction: number) =>
      table_.points.filter((p: { method: string }) => p.method === method)
        .reduce(
          (
            best: { reduction: number; top1?: number } | undefined,
            p: { reduction: number; top1?: number },
          ) =>
            !best || Math.abs(p.reduction - reduction) < Math.abs(best.reduction - reduction)
              ? p
              : best,
          undefined,
        )
        ?.top1;

    let n = 0;
    const send = async (query: string, budget: number): Promise<Outcome> => {
      const picture = pictures[n++ % pictures.length];
      const t0 = performance.now();
      const r = await fetch(`${url}/v1/classify?${query}`, {
        method: "POST",
        body: picture.bytes as Uint8Array<ArrayBuffer>,
        headers: { "content-type": picture.type },
      });
      // Latency to the response's arrival (headers; the JSON body is under 2 KB).
      const ms = performance.now() - t0;
      const body = await r.json();
      const op = body.operating_point;
      return {
        status: r.status,
        ms,
        budget,
        expected: op && (op.expected_top1 ?? accuracyOf(op.method, op.reduction)),
        serverMs: body.timings?.total_ms,
        predictedMs: body.timings?.predicted_ms,
        answer: {
          timings: body.timings,
          point: op && { method: op.method, gmacs: op.gmacs },
          error: body.error,
        },
      };
    };

    // Unmerged latency (one at a time) and capacity (two clients, closed loop).
    const single: number[] = [];
    for (let i = 0; i < 30; i++) single.push((await send("", 0)).ms);
    const L = quantile(single, 0.5);
    let done = 0;
    const t0 = performance.now();
    await Promise.all([0, 1].map(async () => {
      while (performance.now() - t0 < 5000) (await send("", 0), done++);
    }));
    const capacity = done / ((performance.now() - t0) / 1000);
    console.log(`unmerged latency p50 ${L.toFixed(1)} ms, capacity ${capacity.toFixed(1)} req/s`);

    const allPolicies: Policy[] = [
      { name: "budget (ours)", query: (b) => `budget_ms=${b.toFixed(1)}&on_miss=reject` },
      {
        name: "budget, best effort",
        query: (b) => `budget_ms=${b.toFixed(1)}&on_miss=best_effort`,
      },
      { name: "unmerged", query: () => "" },
      ...[0.33, 0.45, 0.65].map((r) => ({
        name: `fixed tome ${Math.round(r * 100)} %`,
        query: () => `method=tome&reduction=${r}`,
      })),
    ];
    const policies = allPolicies.filter((p) => p.name.startsWith(values.policy ?? ""));
    if (policies.length === 0) throw new UserError(`no policy starts with ${values.policy}`);
    // Warm-up (not reported): the latency model sees traffic like the measured one first.
    await openLoop(0.5 * capacity, WARM_UP_SECONDS, () => {
      const budget = L * (0.6 + 0.9 * Math.random());
      return send(allPolicies[0].query(budget), budget);
    });
    const rows: (string | number)[][] = [];
    for (const rate of RATES) {
      for (const policy of policies) {
        const outcomes = await openLoop(rate * capacity, seconds, () => {
          const budget = L * (0.6 + 0.9 * Math.random());
          return send(policy.query(budget), budget);
        });
        const ok = outcomes.filter((o) => o.status === 200);
        const inBudget = ok.filter((o) => o.ms <= o.budget).length;
        const latency = ok.map((o) => o.ms);
        const acc = ok.filter((o) => o.expected !== undefined);
        const row = [
          `${Math.round(rate * 100)} %`,
          policy.name,
          (ok.length / seconds).toFixed(1),
          outcomes.length - ok.length,
          ok.length ? quantile(latency, 0.5).toFixed(0) : "-",
          ok.length ? quantile(latency, 0.99).toFixed(0) : "-",
          `${(100 * inBudget / Math.max(1, ok.length)).toFixed(1)} %`,
          `${(100 * inBudget / Math.max(1, outcomes.length)).toFixed(1)} %`,
          acc.length
            ? `${(100 * acc.reduce((s, o) => s + o.expected!, 0) / acc.length).toFixed(2)} %`
            : "-",
        ];
        console.log(row.join(" | "));
        console.log(`  ${missReport(ok)}`);
        if (values.trace) {
          const lines = outcomes.map((o) =>
            JSON.stringify({ load: rate, policy: policy.name, ...o }) + "\n"
          );
          await Deno.writeTextFile(values.trace, lines.join(""), { append: true });
        }
        rows.push(row);
      }
    }
    const out = table(
      [
        "load",
        "policy",
        "answered/s",
        "refused",
        "p50 ms",
        "p99 ms",
        "in budget (answered)",
        "in budget (offered)",
        "mean expected top-1",
      ],
      rows,
    );
    console.log(out);
    if (!values["no-write"]) {
      await writeSection(
        fileURLToPath(new URL("../docs/PERFORMANCE.md", import.meta.url)),
        "load",
        [
          `Open loop on loopback (\`deno task bench:load\`), ${seconds} s per cell after a`,
          `${WARM_UP_SECONDS} s warm-up, Poisson arrivals at a share of the unmerged capacity`,
          `(${capacity.toFixed(1)} req/s, two closed-loop clients); unmerged latency`,
          `L = ${L.toFixed(1)} ms (p50, one at a time); budgets uniform in [0.6 L, 1.5 L];`,
          `${pictures.length} ImageNet JPEGs in turn; 1 worker, WASM, 2 threads; the load`,
          `generator shares the 2 cores at nice 10. "in budget" compares the client-measured`,
          `latency (request sent to response headers) with the budget, over answered requests and over all offered (refused =`,
          `missed); "refused" are 503 (budget unachievable, on_miss=reject only) and 429. Expected`,
          `top-1 is the eval accuracy of the point each answer used.\n\n${out}`,
        ].join(" "),
      );
    }
  } finally {
    server.kill("SIGTERM");
    await server.status;
  }
}

async function waitReady(url: string) {
  const t0 = performance.now();
  while (performance.now() - t0 < 180_000) {
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

/** Where the misses come from: by how much, and whether the server's own total also missed. */
function missReport(ok: Outcome[]): string {
  const missed = ok.filter((o) => o.ms > o.budget);
  if (missed.length === 0) return "no misses";
  const over = missed.map((o) => o.ms - o.budget);
  const serverMissed = missed.filter((o) => (o.serverMs ?? 0) > o.budget).length;
  const gap = ok.filter((o) => o.serverMs !== undefined).map((o) => o.ms - o.serverMs!);
  const underPredicted = missed.filter((o) => (o.serverMs ?? 0) > (o.predictedMs ?? Infinity));
  return `${missed.length} misses, over by p50 ${quantile(over, 0.5).toFixed(1)} ms / max ${
    Math.max(...over).toFixed(1)
  } ms; ${serverMissed} also missed by the server's total; ${underPredicted.length} above the ` +
    `prediction; client - server p50 ${quantile(gap, 0.5).toFixed(1)} ms, p99 ${
      quantile(gap, 0.99).toFixed(1)
    } ms`;
}

/** Fires `request` at Poisson arrivals of `rate` per second for `seconds`; all outcomes. */
async function openLoop(rate: number, seconds: number, request: () => Promise<Outcome>) {
  const pending: Promise<Outcome>[] = [];
  const t0 = performance.now();
  let next = 0;
  while (next < seconds * 1000) {
    const wait = t0 + next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(request());
    next += -Math.log(1 - Math.random()) / rate * 1000;
  }
  return await Promise.all(pending);
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
