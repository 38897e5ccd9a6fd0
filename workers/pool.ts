/**
 * A pool of inference workers (Deno Web Workers, each with its own ORT session) behind a bounded
 * deadline queue (`lib/runtime/queue.ts`: earliest deadline first, budgeted jobs decided when a
 * worker takes them). Back-pressure: a full queue rejects at once (`QueueFullError`, HTTP 429).
 * A worker that crashes or exceeds the job timeout is terminated and replaced. A job whose worker
 * crashed is retried once, in its deadline's place (a second crash answers it with an error); a
 * job that hung a worker is not retried, since it would hang the next one too (and a thread
 * stuck in a busy loop keeps its core after terminate() in Deno 2.9, denoland/deno#35657: the
 * `worker replaced (hung ...)` log line means the process should be restarted soon). Jobs whose
 * client left or whose deadline passed while queued are dropped. `drain()` stops intake and
 * waits for the work in hand, up to a deadline.
 * @module
 */
import {
  JobError,
  JobTimeoutError,
  PoolUnavailableError,
  QueueFullError,
  WorkerFaultError,
} from "../lib/runtime/errors.ts";
import {
  type Backlog,
  type ClassifyJob,
  type ClassifyResult,
  type Decided,
  epochNow,
  type Inference,
} from "../lib/runtime/jobs.ts";
import { DeadlineQueue, type Waiting } from "../lib/runtime/queue.ts";
import type { PreprocessConfig } from "../lib/image/preprocess.ts";
import {
  type DecodeReply,
  type DecoderMessage,
  type InitMessage,
  type JobMessage,
  type PoolMessage,
  QueueState,
  type WorkerMessage,
} from "./protocol.ts";

// onnxruntime-web replaces globalThis.Worker once it starts threads in this thread: keep ours.
const WebWorker = globalThis.Worker;
const send = (worker: Worker, message: PoolMessage) => worker.postMessage(message);

/** Pool settings. */
export interface PoolOptions {
  size: number;
  /** Jobs waiting beyond those running. */
  queueLimit: number;
  /** A job running longer than this means a hung worker. */
  jobTimeoutMs: number;
  /** Queued jobs with the same `batchKey` run together, up to this many (default 1: off). */
  maxBatch?: number;
  init: Omit<InitMessage, "type">;
  /** Called when a worker is replaced (for metrics and logs). */
  onReplace?: (reason: string) => void;
}

interface Pending {
  job: ClassifyJob;
  attempts: number;
  /** Epoch ms when it first arrived. */
  enqueued: number;
  resolve: (r: ClassifyResult) => void;
  reject: (e: Error) => void;
  /** The budget's prediction when it was decided. */
  predictedMs?: number;
  /** Ms it waited before the worker that answers it took it. */
  queueMs?: number;
  /** Sent to the decode worker (its answer, if any, lands in `job.prepared`). */
  decoding?: number;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  /** Its worker could not be restarted: the slot takes no more jobs. */
  dead?: string;
  /** The jobs the worker runs now (one batch), by message id. */
  busy?: { jobs: Map<number, Pending>; timer: ReturnType<typeof setTimeout>; started: number };
  /** Warm requests the worker has not answered yet, by message id. */
  warming: Map<number, () => void>;
}

/** Workers behind a bounded queue. */
export class WorkerPool implements Inference {
  #slots: Slot[] = [];
  #queue = new DeadlineQueue<Pending>(epochNow);
  /** The queue's state, shared with the workers (re-plans read it between segments). */
  #shared = new QueueState();
  #draining = false;
  #nextId = 1;
  #idle: (() => void)[] = [];
  #backend = "";
  #backendReason = "";
  /** Set by `decodeAhead`: the preprocessing a decode worker applies. */
  #preprocess?: PreprocessConfig;
  #decoder?: Worker;
  /** Jobs at the decode worker, by request id. */
  #decoding = new Map<number, Pending>();

  private constructor(readonly options: PoolOptions) {}

  /** Starts `size` workers and waits until every one has loaded the model. */
  static async start(options: PoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
    await Promise.all(Array.from({ length: options.size }, () => pool.#spawn()));
    return pool;
  }

  /** Backend the workers run on. */
  get backend(): string {
    return this.#backend;
  }

  /** Why the workers run on it (`auto` says what it found). */
  get backendReason(): string {
    return this.#backendReason;
  }

  /** Jobs waiting for a worker. */
  get queueDepth(): number {
    return this.#queue.length;
  }

  /** Workers in the pool. */
  get workers(): number {
    return this.options.size;
  }

  /** Workers started and not being replaced. */
  get readyWorkers(): number {
    return this.#slots.filter((s) => s.ready).length;
  }

  /** Jobs running now. */
  get running(): number {
    return this.#slots.reduce((n, s) => n + (s.busy?.jobs.size ?? 0), 0);
  }

  /** Running batches (how long each has run) and queued jobs. */
  backlog(): Backlog {
    const now = performance.now();
    const running = this.#slots.flatMap(({ busy }) => {
      if (!busy) return [];
      const jobs = [...busy.jobs.values()];
      // A batch's service time is not the sum of its jobs': count a typical one.
      const serviceMs = jobs.length === 1 ? jobs[0].job.serviceMs : undefined;
      return [{ elapsedMs: now - busy.started, serviceMs }];
    });
    const queued = this.#queue.items.map((w) => ({ serviceMs: w.job.serviceMs }));
    return { running, queued, workers: this.options.size };
  }

  refusal(): Error | undefined {
    if (this.#draining) return new PoolUnavailableError("shutting down");
    const dead = this.#noWorkers();
    if (dead) return dead;
    if (this.#queue.length >= this.options.queueLimit) {
      return new QueueFullError(
        Math.max(1, Math.ceil((this.#queue.length * 0.1) / this.options.size)),
      );
    }
  }

  /** Queues a job; rejects at once when the queue is full or the pool is draining. */
  classify(job: ClassifyJob): Promise<ClassifyResult> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    return new Promise((resolve, reject) => {
      const pending: Pending = { job, attempts: 0, enqueued: epochNow(), resolve, reject };
      this.#queue.push(job, pending);
      this.#dispatch();
      if (this.#queue.items.some((w) => w.handle === pending)) this.#decodeAhead(pending);
    });
  }

  /**
   * From now on, a job that must wait for a worker is decoded meanwhile (with `preprocess`) in a
   * decode worker, started when a job first waits; the worker that takes the job gets its input.
   * Without it, each inference worker decodes the jobs it takes.
   */
  decodeAhead(preprocess: PreprocessConfig): void {
    this.#preprocess = preprocess;
  }

  #startDecoder(preprocess: PreprocessConfig): Worker {
    const decoder = new WebWorker(new URL("./decode.ts", import.meta.url), { type: "module" });
    decoder.postMessage({ type: "init", preprocess } satisfies DecoderMessage);
    decoder.onmessage = ({ data }: MessageEvent<DecodeReply>) => {
      const pending = this.#decoding.get(data.id);
      this.#decoding.delete(data.id);
      // A job already dispatched was decoded by its worker; a failed decode is left to it too.
      if (pending && data.input) {
        pending.job = { ...pending.job, prepared: { input: data.input, ms: data.ms ?? 0 } };
        this.#queue.replaceJob(pending, pending.job);
      }
    };
    decoder.onerror = (event) => {
      // Decoding ahead only saves time: without it, the inference workers decode.
      event.preventDefault();
      console.error(`edgemerge: the decode worker failed (${event.message}); decoding in workers`);
      decoder.terminate();
      this.#decoder = undefined;
      this.#preprocess = undefined;
      for (const pending of this.#decoding.values()) pending.decoding = undefined;
      this.#decoding.clear();
    };
    return decoder;
  }

  /** Sends a waiting job's image to the decode worker. */
  #decodeAhead(pending: Pending): void {
    if (!this.#preprocess) return;
    this.#decoder ??= this.#startDecoder(this.#preprocess);
    const id = this.#nextId++;
    pending.decoding = id;
    this.#decoding.set(id, pending);
    const message: DecoderMessage = { type: "decode", id, image: pending.job.image };
    this.#decoder.postMessage(message);
  }

  /**
   * Starts the sessions of `methods` on every worker, so no request pays for a session start;
   * workers that replace a crashed one start them too.
   */
  async warm(methods: string[]): Promise<void> {
    const init = this.options.init;
    init.warm = [...new Set([...init.warm, ...methods])];
    await Promise.all(this.#slots.map((slot) =>
      new Promise<void>((resolve) => {
        const id = this.#nextId++;
        slot.warming.set(id, resolve);
        send(slot.worker, { type: "warm", id, methods });
      })
    ));
  }

  /** Fault injection: the next job given to worker `index` crashes or hangs it. */
  injectFault(index: number, kind: "crash" | "hang"): void {
    send(this.#slots[index].worker, { type: "fault", kind });
  }

  /** Whether `drain` was called. */

  /**
   * Stops intake, waits for queued and running jobs (at most `deadlineMs`: what is left then is
   * answered unavailable), then stops the workers.
   */
  async drain(deadlineMs = Infinity): Promise<void> {
    this.#draining = true;
    const finished = (async () => {
      while (this.#queue.length > 0 || this.running > 0) {
        await new Promise<void>((resolve) => this.#idle.push(resolve));
      }
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => {
      if (Number.isFinite(deadlineMs)) timer = setTimeout(resolve, deadlineMs);
    });
    await Promise.race([finished, late]);
    clearTimeout(timer);
    const cut = new PoolUnavailableError("shutting down: the drain deadline passed");
    for (const w of [...this.#queue.items]) {
      this.#queue.remove(w.handle);
      w.handle.reject(cut);
    }
    for (const s of this.#slots) {
      if (s.busy) clearTimeout(s.busy.timer);
      for (const p of s.busy?.jobs.values() ?? []) p.reject(cut);
      s.worker.terminate();
    }
    this.#slots = [];
    this.#decoder?.terminate();
    this.#decoder = undefined;
    this.#decoding.clear();
  }

  #spawn(slot?: Slot): Promise<void> {
    const worker = new WebWorker(new URL("./inference.ts", import.meta.url), { type: "module" });
    const s: Slot = slot ?? { worker, ready: false, warming: new Map() };
    s.worker = worker;
    s.ready = false;
    if (!slot) this.#slots.push(s);
    return new Promise((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<WorkerMessage>) => {
        const m = event.data;
        if (m.type === "ready") {
          s.ready = true;
          this.#backend = m.backend;
          this.#backendReason = m.reason;
          resolve();
          this.#dispatch();
        } else if (m.type === "warmed") {
          s.warming.get(m.id)?.();
          s.warming.delete(m.id);
        } else if (m.type === "init_error") {
          reject(new PoolUnavailableError(`worker failed to start: ${m.message}`));
        } else if (s.busy?.jobs.has(m.id)) {
          const pending = s.busy.jobs.get(m.id)!;
          s.busy.jobs.delete(m.id);
          if (s.busy.jobs.size === 0) {
            clearTimeout(s.busy.timer);
            s.busy = undefined;
          }
          if (m.type === "result") {
            pending.resolve({
              ...m.result,
              queueMs: pending.queueMs ?? 0,
              predictedMs: pending.predictedMs,
            });
          } else {
            pending.reject(new JobError(m.name, m.message, m.code, m.user));
          }
          this.#dispatch();
        }
      };
      worker.onerror = (event) => {
        event.preventDefault();
        if (!s.ready) {
          reject(new PoolUnavailableError(`worker crashed while starting: ${event.message}`));
        } else this.#replace(s, "crashed", event.message);
      };
      send(worker, {
        type: "init",
        ...this.options.init,
        queue: this.#shared.buffer,
      });
    });
  }

  #replace(slot: Slot, fault: "crashed" | "hung", detail: string): void {
    slot.worker.terminate();
    slot.ready = false;
    this.options.onReplace?.(`${fault}: ${detail}`);
    const busy = slot.busy;
    slot.busy = undefined;
    if (busy) clearTimeout(busy.timer);
    // The replacement starts every warmed method itself (`init.warm`).
    for (const resolve of slot.warming.values()) resolve();
    slot.warming.clear();
    for (const pending of busy?.jobs.values() ?? []) {
      pending.attempts++;
      if (fault === "hung") {
        pending.reject(
          new JobTimeoutError(`the request took longer than ${this.options.jobTimeoutMs} ms`),
        );
      } else if (pending.attempts < 2) {
        // Its decoded input went to the crashed worker (transferred): the next one decodes. It
        // keeps its place: first among those due with it, patient since it first arrived.
        this.#queue.push({ ...pending.job, prepared: undefined }, pending, true, pending.enqueued);
      } else pending.reject(new WorkerFaultError("the request crashed a worker twice"));
    }
    this.#dispatch(); // another worker may be free for the retried jobs
    this.#spawn(slot).catch((e) => {
      // A worker that cannot restart leaves the pool smaller; queued jobs go to the others, and
      // with none left they are answered now instead of waiting for a worker that never comes.
      slot.worker.terminate();
      slot.dead = (e as Error).message;
      console.error(`edgemerge: ${slot.dead}`);
      const dead = this.#noWorkers();
      if (dead) { for (const w of [...this.#queue.items]) this.#refuse(w.handle, dead); }
      this.#dispatch();
    });
  }

  /** Why no job can run any more (every worker failed to restart), if so. */
  #noWorkers(): PoolUnavailableError | undefined {
    if (this.#slots.length === 0 || this.#slots.some((s) => !s.dead)) return undefined;
    return new PoolUnavailableError(`no inference worker is left (${this.#slots[0].dead})`);
  }

  /** Takes `pending` out of the queue and rejects it with `error`. */
  #refuse(pending: Pending, error: Error): void {
    this.#queue.remove(pending);
    pending.reject(error);
  }

  /**
   * The next job (decided, if budgeted) and up to `maxBatch - 1` queued jobs with its batch key
   * (unbudgeted ones only: a budgeted job runs alone, in segments). Refusals are answered here.
   */
  #takeBatch(): Pending[] {
    const { next, refused } = this.#queue.take();
    for (const r of refused) r.handle.reject(r.error);
    if (!next) return [];
    const head: Pending = {
      ...next.handle,
      job: decided(next),
      predictedMs: next.decided?.predictedMs,
    };
    const batch = [head];
    const key = head.job.batchKey;
    const max = this.options.maxBatch ?? 1;
    for (const w of [...this.#queue.items]) {
      if (key === undefined || batch.length >= max) break;
      if (w.job.batchKey === key && !w.job.decide) {
        this.#queue.remove(w.handle);
        batch.push(w.handle);
      }
    }
    return batch;
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (!slot.ready || slot.busy || this.#queue.length === 0) continue;
      const batch = this.#takeBatch();
      if (batch.length === 0) continue;
      const jobs = new Map<number, Pending>();
      const messages: JobMessage[] = [];
      for (const pending of batch) {
        const id = this.#nextId++;
        jobs.set(id, { ...pending, queueMs: epochNow() - pending.enqueued });
        if (pending.decoding !== undefined) this.#decoding.delete(pending.decoding);
        pending.decoding = undefined;
        const { decide: _, signal: _signal, ...job } = pending.job;
        messages.push({ type: "job", id, ...job });
      }
      const timer = setTimeout(
        () => this.#replace(slot, "hung", `no answer in ${this.options.jobTimeoutMs} ms`),
        this.options.jobTimeoutMs,
      );
      slot.busy = { jobs, timer, started: performance.now() };
      const inputs = messages.flatMap((m) => m.prepared ? [m.prepared.input.buffer] : []);
      slot.worker.postMessage({ type: "batch", jobs: messages } satisfies PoolMessage, inputs);
    }
    this.#shared.write(this.#queue.length, this.#queue.finishBy());
    if (this.#queue.length === 0 && this.running === 0) this.#idle.splice(0).forEach((f) => f());
  }
}

/** A taken job as it will run: its decision applied (and not to be decided again on a retry). */
function decided(w: Waiting<Pending> & { decided?: Decided }): ClassifyJob {
  if (!w.decided) return w.job;
  const { method, schedule, theta, resolution, control, deadline = w.job.deadline } = w.decided;
  return { ...w.job, method, schedule, theta, resolution, control, deadline, decide: undefined };
}
