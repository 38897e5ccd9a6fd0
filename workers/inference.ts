/**
 * The inference worker: holds one model with a session per method, decodes and preprocesses
 * images, and runs them. Started by `pool.ts`; speaks `protocol.ts`.
 * @module
 */
/// <reference lib="deno.worker" />
import { collectGarbage } from "../lib/backend/memory.ts";
import { UserError } from "../lib/errors.ts";
import type { ReplanMode } from "../lib/runtime/jobs.ts";
import {
  type BatchMessage,
  type InitMessage,
  type PoolMessage,
  QueueState,
  type WarmMessage,
  type WorkerMessage,
} from "./protocol.ts";

// The handler is installed before any await, so no message is missed while modules load.
let engine: import("../lib/runtime/engine.ts").Engine | undefined;
/** The job runner and the re-planner, imported once in `init` (an import per job cost 0.06 ms). */
let runBatch: typeof import("../lib/runtime/jobs.ts").runBatch;
let replan: typeof import("../lib/budget/plan.ts").replan;
const pending: (BatchMessage | WarmMessage)[] = [];
/** Fault injection for tests and chaos drills: the next job crashes or hangs this worker. */
let fault: "crash" | "hang" | undefined;
/** How budgeted jobs re-plan between segments (`init.replan`). */
let replanning: ReplanMode = "on";
/** The pool's queue (`init.queue`). */
let queue: QueueState | undefined;
const post = (m: WorkerMessage) => self.postMessage(m);

self.onmessage = ({ data }: MessageEvent<PoolMessage>) => {
  if (data.type === "init") void init(data);
  else if (data.type === "fault") fault = data.kind;
  else if (engine) void handle(data);
  else pending.push(data);
};

function handle(message: BatchMessage | WarmMessage) {
  return message.type === "warm" ? warm(message) : run(message);
}

async function init(message: InitMessage) {
  try {
    const { Engine } = await import("../lib/runtime/engine.ts");
    const { loadModelBundle } = await import("../lib/checkpoint/bundle.ts");
    const { resolveBackend } = await import("../lib/backend/session.ts");
    ({ runBatch } = await import("../lib/runtime/jobs.ts"));
    ({ replan } = await import("../lib/budget/plan.ts"));
    const { backend, reason } = await resolveBackend(message.backend);
    const e = new Engine(await loadModelBundle(message.model), {
      backend,
      threads: message.threads,
      spin: message.spin,
      sessions: message.sessions,
      segments: message.segmentBlocks,
      prior: message.prior,
    });
    for (const method of message.warm) await e.runner(method);
    // The weights and graph bytes now live in the session: free their buffers before serving.
    collectGarbage();
    engine = e;
    replanning = message.replan ?? "on";
    if (message.queue) queue = new QueueState(message.queue);
    fault ??= message.fault;
    post({ type: "ready", backend, reason });
    for (const message of pending.splice(0)) void handle(message);
  } catch (e) {
    post({ type: "init_error", message: (e as Error).message });
  }
}

async function warm(message: WarmMessage) {
  // A method that fails to start is reported by the jobs that need it, not here.
  for (const method of message.methods) await engine!.runner(method).catch(() => undefined);
  post({ type: "warmed", id: message.id });
}

async function run(batch: BatchMessage) {
  if (fault === "crash") {
    setTimeout(() => {
      throw new Error("injected crash");
    });
  }
  // A hang blocks the thread without spinning: Deno 2.9's terminate() does not stop a busy JS
  // loop (denoland/deno#35657), and the leftover would take a core from everything after it.
  if (fault === "hang") Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  if (fault) return;
  const fail = (id: number, e: unknown) => {
    const err = e as Error & { code?: string };
    const user = e instanceof UserError;
    // A bug's detail stays in this process's log; the client gets a generic 500.
    if (!user) console.error(`edgemerge worker: job failed:`, e);
    post({ type: "error", id, name: err.name, code: err.code, message: err.message, user });
  };
  try {
    const results = await runBatch(engine!, batch.jobs, {
      replan: replanning === "off" ? undefined : replan,
      othersWaiting: () => (queue?.waiting() ?? 0) > 0,
      ...(replanning === "on" && { finishBy: () => queue?.finishBy() }),
    });
    results.forEach((result, i) => {
      const { id } = batch.jobs[i];
      if (result instanceof Error) fail(id, result);
      else post({ type: "result", id, result });
    });
  } catch (e) {
    for (const job of batch.jobs) fail(job.id, e);
  }
}
