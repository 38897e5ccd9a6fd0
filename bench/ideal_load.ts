/**
 * `deno task bench:ideal-load --latency-ms L [--points FILE] [--fixed-ms F] [--noise S,...]`:
 * what an idealised controller could reach under `bench:load`'s protocol, by simulation. It knows every
 * run's time exactly (or up to a lognormal noise of log-sd S it cannot see), serves earliest
 * deadline first on one worker, answers a hopeless request at once without using the worker, and
 * gives each request the most accurate operating point of the points table that still meets its
 * deadline and leaves the next requests their cheapest point; with a time price, less that price
 * of its time, as the server ranks plans (`BudgetOptions.timePrice`, at the true arrival rate);
 * or in two halves, re-planning the second (as the server re-plans between segments) and,
 * optionally, preempting at the half for a job due earlier. Service time = F (decode and HTTP,
 * not reducible) + (L - F) x GMACs / unmerged GMACs / efficiency (1 unmerged, `--efficiency` when
 * merged: the measured speedup / ideal). Accuracy is the table's top-1 (expected, not measured):
 * it bounds what better planning alone could gain on this machine, it is not a result.
 * @module
 */
import { integerOption, numberOption, parseCommand, runMain, UsageError } from "../lib/cli/args.ts";
import { TRIAL_TIME_PRICE } from "../lib/budget/budget.ts";
import { checkPoints, expectedAccuracy, type OperatingPoint } from "../lib/budget/points.ts";
import { seededRandom, table, writeSection } from "./report.ts";

const USAGE = "usage: deno task bench:ideal-load --latency-ms L [--points FILE] [--fixed-ms F] " +
  "[--efficiency E] [--noise S[,S...]] [--requests N] [--lookahead K] [--time-price C] " +
  "[--no-write]";
const HELP = `${USAGE}

Simulates open-loop Poisson load at 50/70/90 % of 1000/L per second with budgets uniform in
[0.6 L, 1.5 L] (bench:load's protocol) against one worker, for six policies: always unmerged,
always the cheapest point, the idealised controller (see the module doc), the same with the
server's time price, the controller with a segment boundary at half a run's model time where the
rest is re-planned from the time left, and the same where a job at that boundary also steps aside
for a waiting job that would otherwise miss. Prints, per load and policy, the share of offered
requests answered inside the budget, the expected effective accuracy (table top-1 of the answers
inside their budget, over all offered; a run of two points counts the mean of their top-1) and
the share of jobs preempted.

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

export interface Plan {
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

/**
 * How the simulated worker runs a job: in one piece, or in two halves (a segment boundary at half
 * its model time) with the second half re-planned from the time left, and there, optionally,
 * set aside for a waiting job that would otherwise miss (resumed later, earliest deadline first).
 */
type Run = "whole" | "replan" | "preempt";

export interface Job {
  arrival: number;
  deadline: number;
}

/** A job past its first half: its deadline, and the top-1 of the plan that ran that half. */
interface Halfway {
  job: Job;
  first: number;
  /** The run-time factor drawn for the job (both halves run at it). */
  factor: number;
}

/** Simulates one load; returns [share in budget, expected effective accuracy, share preempted]. */
function simulate(
  plans: Plan[],
  policy: Policy,
  { latency, share, requests, noise, lookahead, fixedMs, run }: {
    latency: number;
    share: number;
    requests: number;
    noise: number;
    lookahead: number;
    fixedMs: number;
    run: Run;
  },
): [number, number, number] {
  const rand = seededRandom(42);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const rate = share / latency; // requests per ms
  const jobs: Job[] = [];
  for (let i = 0, t = 0; i < requests; i++) {
    t += -Math.log(1 - rand()) / rate;
    jobs.push({ arrival: t, deadline: t + latency * (0.6 + 0.9 * rand()) });
  }
  const byDeadline = (a: { deadline: number }, b: { deadline: number }) => a.deadline - b.deadline;
  const waiting: Job[] = [];
  const paused: Halfway[] = [];
  let next = 0, now = 0, inBudget = 0, correct = 0, preempted = 0;
  const admit = () => {
    while (next < jobs.length && jobs[next].arrival <= now) waiting.push(jobs[next++]);
    waiting.sort(byDeadline);
  };
  const deadlinesBehind = () =>
    [...waiting, ...paused.map((p) => p.job)].map((j) => j.deadline).sort((a, b) => a - b)
      .slice(0, lookahead);
  const half = (plan: Plan) => (plan.ms - fixedMs) / 2;
  const finish = (h: Halfway) => {
    const rest = secondHalf(plans, now, h, deadlinesBehind(), noise, half);
    now += half(rest) * h.factor;
    if (now <= h.job.deadline) {
      inBudget++;
      correct += (h.first + rest.top1) / 2;
    }
  };
  while (next < jobs.length || waiting.length > 0 || paused.length > 0) {
    if (waiting.length === 0 && paused.length === 0) now = Math.max(now, jobs[next].arrival);
    admit();
    paused.sort((a, b) => byDeadline(a.job, b.job));
    if (
      paused.length > 0 && (waiting.length === 0 || paused[0].job.deadline <= waiting[0].deadline)
    ) {
      finish(paused.shift()!);
      continue;
    }
    const job = waiting.shift()!;
    const behind = deadlinesBehind();
    const plan = policy(plans, now, job.deadline, behind);
    if (!plan) continue; // hopeless: answered at once, a miss, no worker time
    const factor = Math.exp(noise * normal());
    if (run === "whole") {
      now += plan.ms * factor;
      if (now <= job.deadline) {
        inBudget++;
        correct += plan.top1;
      }
      continue;
    }
    now += (fixedMs + half(plan)) * factor;
    admit();
    const h = { job, first: plan.top1, factor };
    if (run === "preempt" && shouldYield(plans[0], half(plans[0]), now, job, waiting)) {
      paused.push(h);
      preempted++;
      continue;
    }
    finish(h);
  }
  return [inBudget / requests, correct / requests, preempted / requests];
}

/**
 * Whether a job at its half should step aside: a waiting job due earlier misses if it waits for
 * this one's cheapest second half, makes it at its cheapest if it runs now, and this job can still
 * finish at its cheapest after that.
 */
export function shouldYield(
  cheapest: Plan,
  cheapestHalf: number,
  now: number,
  job: Job,
  waiting: Job[],
): boolean {
  return waiting.some((w) =>
    w.deadline < job.deadline && now + cheapestHalf + cheapest.ms > w.deadline &&
    now + cheapest.ms <= w.deadline && now + cheapest.ms + cheapestHalf <= job.deadline
  );
}

/**
 * The second half's plan: as `idealised`, of the halves that leave the jobs behind as many
 * chances as the cheapest half, the best mean top-1 of the two halves times its chance (the
 * accuracy of a mixed schedule taken as the mean of its halves' points: an estimate); the cheapest
 * when none fits.
 */
function secondHalf(
  plans: Plan[],
  now: number,
  h: Halfway,
  behind: number[],
  noise: number,
  half: (p: Plan) => number,
): Plan {
  const deadline = h.job.deadline;
  const cheapest = plans[0].ms;
  const most = madeBehind(now + half(plans[0]), cheapest, behind);
  const chance = (ms: number) =>
    noise === 0
      ? (now + ms <= deadline ? 1 : 0)
      : normalCdf(Math.log(Math.max(deadline - now, 1e-9) / ms) / noise);
  let best = plans[0], score = -1;
  for (const plan of plans) {
    if (madeBehind(now + half(plan), cheapest, behind) < most) continue;
    const s = ((h.first + plan.top1) / 2) * chance(half(plan));
    if (s > score) [best, score] = [plan, s];
  }
  return best;
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
  if (latency === undefined) throw new UsageError("--latency-ms is required");
  const path = values.points ?? "priors/points/deit_tiny_patch16_224.json";
  const points = checkPoints(JSON.parse(await Deno.readTextFile(path)), path).points;
  const fixedMs = numberOption(values["fixed-ms"], "fixed-ms", 0, latency) ?? 7;
  const efficiency = numberOption(values.efficiency, "efficiency", 0.1, 1) ?? 0.92;
  const noises = (values.noise ?? "0,0.18").split(",").map((v) => numberOption(v, "noise", 0, 2)!);
  const requests = integerOption(values.requests, "requests", 100, 10_000_000) ?? 100_000;
  const lookahead = integerOption(values.lookahead, "lookahead", 0, 64) ?? 4;
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
      const policies: [string, Policy, Run][] = [
        ["unmerged", fixed(() => unmerged), "whole"],
        [`cheapest (${plans[0].name})`, fixed((p) => p[0]), "whole"],
        ["idealised controller", idealised(noise), "whole"],
        // The server's price at the true arrival rate (requests per ms on the one worker).
        [
          `idealised, time price ${timePrice}`,
          idealised(noise, timePrice * share / latency),
          "whole",
        ],
        ["idealised, re-planned at half time", idealised(noise), "replan"],
        ["idealised, re-planned, preempting", idealised(noise), "preempt"],
      ];
      for (const [name, policy, run] of policies) {
        const [inBudget, effective, preempted] = simulate(plans, policy, {
          latency,
          share,
          requests,
          noise,
          lookahead,
          fixedMs,
          run,
        });
        rows.push([
          `${share * 100} %`,
          noise,
          name,
          `${(100 * inBudget).toFixed(1)} %`,
          `${(100 * effective).toFixed(1)} %`,
          run === "preempt" ? `${(100 * preempted).toFixed(1)} %` : "-",
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
  const md = table(
    ["load", "noise", "policy", "in budget", "expected effective accuracy", "preempted"],
    rows,
  );
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
