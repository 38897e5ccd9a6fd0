/**
 * `deno task bench:ideal-load --latency-ms L [--points FILE] [--fixed-ms F] [--noise S,...]`:
 * what an idealised controller could reach under `bench:load`'s protocol, by simulation. It knows every
 * run's time exactly (or up to a lognormal noise of log-sd S it cannot see), serves earliest
 * deadline first on one worker, answers a hopeless request at once without using the worker, and
 * gives each request the most accurate operating point of the points table that still meets its
 * deadline and leaves the next requests their cheapest point; with a time price, less that price
 * of its time, as the server ranks plans (`BudgetOptions.timePrice`, at the true arrival rate). Service time = F (decode and HTTP,
 * not reducible) + (L - F) x GMACs / unmerged GMACs / efficiency (1 unmerged, `--efficiency` when
 * merged: the measured speedup / ideal). Accuracy is the table's top-1 (expected, not measured):
 * it bounds what better planning alone could gain on this machine, it is not a result.
 * @module
 */
import { numberOption, parseCommand, runMain } from "../lib/cli/args.ts";
import { TRIAL_TIME_PRICE } from "../lib/budget/budget.ts";
import { checkPoints, expectedAccuracy, type OperatingPoint } from "../lib/budget/points.ts";
import { seededRandom, table, writeSection } from "./report.ts";

const USAGE = "usage: deno task bench:ideal-load --latency-ms L [--points FILE] [--fixed-ms F] " +
  "[--efficiency E] [--noise S[,S...]] [--requests N] [--lookahead K] [--time-price C] " +
  "[--no-write]";
const HELP = `${USAGE}

Simulates open-loop Poisson load at 50/70/90 % of 1000/L per second with budgets uniform in
[0.6 L, 1.5 L] (bench:load's protocol) against one worker, for four policies: always unmerged,
always the cheapest point, the idealised controller (see the module doc), and the same with the
server's time price. Prints, per load
and policy, the share of offered requests answered inside the budget and the expected effective
accuracy (table top-1 of the answers inside their budget, over all offered).

  --latency-ms L   the unmerged latency a client sees (bench:load prints it)      (required)
  --points FILE    operating points (default priors/points/deit_tiny_patch16_224.json)
  --fixed-ms F     the part of L merging cannot shorten: decode, HTTP (default 7)
  --efficiency E   merged runs' speedup / GMACs ideal (bench:speedup; default 0.92)
  --noise S,...    log-sds of a run-time factor the controller knows only in distribution
                   (default 0,0.18: 0.18 is ln(p99 / p50) / 2.33 of one operating point's
                   answer times as issue 12 measured them, 73 and 48 ms)
  --requests N     simulated requests per load (default 100000)
  --lookahead K    requests behind whose cheapest point must still fit (default 4)
  --time-price C   the last policy ranks points by top-1 x chance - C x arrivals per ms x ms
                   (default ${TRIAL_TIME_PRICE}, what bench:load tries)
  --no-write       print only (default: also write the table to docs/PERFORMANCE.md)`;

interface Plan {
  name: string;
  ms: number;
  top1: number;
}

/** The points that no other point beats on both time and top-1, fastest first. */
function front(points: OperatingPoint[], service: (p: OperatingPoint) => number): Plan[] {
  const plans = points.map((p) => ({
    name: `${p.method} ${(100 * p.reduction).toFixed(0)}%`,
    ms: service(p),
    top1: expectedAccuracy(p),
  })).sort((a, b) => a.ms - b.ms || b.top1 - a.top1);
  const out: Plan[] = [];
  for (const p of plans) if (out.length === 0 || p.top1 > out.at(-1)!.top1) out.push(p);
  return out;
}

type Policy = (plans: Plan[], now: number, deadline: number, behind: number[]) => Plan | undefined;

/** Simulates one load; returns [share in budget, expected effective accuracy]. */
function simulate(
  plans: Plan[],
  policy: Policy,
  { latency, share, requests, noise, lookahead }: {
    latency: number;
    share: number;
    requests: number;
    noise: number;
    lookahead: number;
  },
): [number, number] {
  const rand = seededRandom(42);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const rate = share / latency; // requests per ms
  const jobs: { arrival: number; deadline: number }[] = [];
  for (let i = 0, t = 0; i < requests; i++) {
    t += -Math.log(1 - rand()) / rate;
    jobs.push({ arrival: t, deadline: t + latency * (0.6 + 0.9 * rand()) });
  }
  const waiting: { arrival: number; deadline: number }[] = [];
  let next = 0, now = 0, inBudget = 0, correct = 0;
  while (next < jobs.length || waiting.length > 0) {
    if (waiting.length === 0) now = Math.max(now, jobs[next].arrival);
    while (next < jobs.length && jobs[next].arrival <= now) waiting.push(jobs[next++]);
    waiting.sort((a, b) => a.deadline - b.deadline);
    const job = waiting.shift()!;
    const behind = waiting.slice(0, lookahead).map((j) => j.deadline);
    const plan = policy(plans, now, job.deadline, behind);
    if (!plan) continue; // hopeless: answered at once, a miss, no worker time
    now += plan.ms * Math.exp(noise * normal());
    if (now <= job.deadline) {
      inBudget++;
      correct += plan.top1;
    }
  }
  return [inBudget / requests, correct / requests];
}

/** Always the same plan, late or not. */
const fixed = (pick: (plans: Plan[]) => Plan): Policy => (plans) => pick(plans);

/** How many of the jobs behind (deadlines, EDF order) make it at their cheapest after `end`. */
function madeBehind(end: number, cheapest: number, behind: number[]): number {
  let made = 0;
  for (const d of behind) {
    if (end + cheapest <= d) {
      end += cheapest;
      made++;
    }
  }
  return made;
}

/** The standard normal distribution function (Abramowitz-Stegun 7.1.26, error < 1.5e-7). */
function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2, t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 +
                t * (-1.453152027 + t * 1.061405429)))) *
      Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/**
 * The idealised controller for a run-time noise of log-sd `noise`: of the plans that make as many
 * of the jobs behind (at their cheapest) as the cheapest plan would, the one with the best top-1
 * times its chance of meeting the deadline (with no noise: the most accurate that meets it), less
 * `price` (top-1 per ms) times its time.
 */
const idealised = (noise: number, price = 0): Policy => (plans, now, deadline, behind) => {
  const cheapest = plans[0].ms;
  if (now + cheapest > deadline) return undefined;
  const most = madeBehind(now + cheapest, cheapest, behind);
  const chance = (ms: number) =>
    noise === 0
      ? (now + ms <= deadline ? 1 : 0)
      : normalCdf(Math.log((deadline - now) / ms) / noise);
  let best = plans[0], score = plans[0].top1 * chance(cheapest) - price * cheapest;
  for (const plan of plans.slice(1)) {
    if (madeBehind(now + plan.ms, cheapest, behind) < most) continue;
    const s = plan.top1 * chance(plan.ms) - price * plan.ms;
    if (s > score) [best, score] = [plan, s];
  }
  return best;
};

async function main(args: string[]) {
  const { values } = parseCommand(args, {
    "latency-ms": { type: "string" },
    points: { type: "string" },
    "fixed-ms": { type: "string" },
    efficiency: { type: "string" },
    noise: { type: "string" },
    requests: { type: "string" },
    lookahead: { type: "string" },
    "time-price": { type: "string" },
    "no-write": { type: "boolean" },
  }, HELP);
  const latency = numberOption(values["latency-ms"], "latency-ms", 1, 100_000);
  if (latency === undefined) throw new Error(`--latency-ms is required\n${USAGE}`);
  const path = values.points ?? "priors/points/deit_tiny_patch16_224.json";
  const points = checkPoints(JSON.parse(await Deno.readTextFile(path)), path).points;
  const fixedMs = numberOption(values["fixed-ms"], "fixed-ms", 0, latency) ?? 7;
  const efficiency = numberOption(values.efficiency, "efficiency", 0.1, 1) ?? 0.92;
  const noises = (values.noise ?? "0,0.18").split(",").map((v) => numberOption(v, "noise", 0, 2)!);
  const requests = numberOption(values.requests, "requests", 100, 10_000_000) ?? 100_000;
  const lookahead = numberOption(values.lookahead, "lookahead", 0, 64) ?? 4;
  const timePrice = numberOption(values["time-price"], "time-price", 0, 10) ?? TRIAL_TIME_PRICE;
  const full = points.find((p) => p.method === "none")?.gmacs ??
    Math.max(...points.map((p) => p.gmacs));
  const service = (p: OperatingPoint) =>
    fixedMs + (latency - fixedMs) * (p.gmacs / full) / (p.method === "none" ? 1 : efficiency);
  const plans = front(points, service);
  const unmerged = plans.find((p) => p.name.startsWith("none")) ?? plans.at(-1)!;
  const rows: (string | number)[][] = [];
  for (const share of [0.5, 0.7, 0.9]) {
    for (const noise of noises) {
      const policies: [string, Policy][] = [
        ["unmerged", fixed(() => unmerged)],
        [`cheapest (${plans[0].name})`, fixed((p) => p[0])],
        ["idealised controller", idealised(noise)],
        // The server's price at the true arrival rate (requests per ms on the one worker).
        [`idealised, time price ${timePrice}`, idealised(noise, timePrice * share / latency)],
      ];
      for (const [name, policy] of policies) {
        const [inBudget, effective] = simulate(plans, policy, {
          latency,
          share,
          requests,
          noise,
          lookahead,
        });
        rows.push([
          `${share * 100} %`,
          noise,
          name,
          `${(100 * inBudget).toFixed(1)} %`,
          `${(100 * effective).toFixed(1)} %`,
        ]);
      }
    }
  }
  const head =
    `L = ${latency} ms, fixed ${fixedMs} ms, efficiency ${efficiency}, ${plans.length} ` +
    `points on the time/top-1 front of ${path} (${plans[0].ms.toFixed(1)}-${
      plans.at(-1)!.ms.toFixed(1)
    } ms; cheapest ${plans[0].name} at top-1 ${(100 * plans[0].top1).toFixed(1)} %), ${requests} ` +
    `simulated requests per cell, lookahead ${lookahead}, time price ${timePrice}.`;
  const md = table(["load", "noise", "policy", "in budget", "expected effective accuracy"], rows);
  console.log(`${head}\n\n${md}`);
  if (!values["no-write"]) {
    await writeSection(
      "docs/PERFORMANCE.md",
      "ideal-load",
      `### What an idealised controller could reach (simulation, ${
        new Date().toISOString().slice(0, 10)
      })

Command: \`deno task bench:ideal-load ${args.join(" ")}\`. ${head} Accuracy is the points table's
top-1, so "expected effective accuracy" is an estimate, not a measurement.

${md}`,
    );
  }
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
