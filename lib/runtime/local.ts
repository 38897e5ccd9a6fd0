/**
 * In-process inference: jobs run one at a time on this thread (tests, single-threaded edge
 * runtimes), from the same deadline queue as the worker pool (`workers/pool.ts`), the other
 * `Inference`.
 * @module
 */
import type { Engine } from "./engine.ts";
import {
  type Backlog,
  type ClassifyJob,
  type ClassifyResult,
  epochNow,
  type Inference,
  runJob,
  type RunOptions,
} from "./jobs.ts";
import { PoolUnavailableError, QueueFullError } from "./errors.ts";
import { DeadlineQueue } from "./queue.ts";

interface Handle {
  resolve: (r: ClassifyResult) => void;
  reject: (e: Error) => void;
}

/** In-process inference, one job at a time. */
export class LocalInference implements Inference {
  #queue: DeadlineQueue<Handle>;
  #current?: { job: ClassifyJob; started: number };
  #idle: (() => void)[] = [];
  #draining = false;
  readonly workers = 1;

  /**
   * `options`: the re-planner of budgeted jobs and the clock (both for `runBatch`), and how many
   * jobs may wait (default 16).
   */
  constructor(
    readonly engine: Engine,
    readonly options: RunOptions & { queueLimit?: number } = {},
  ) {
    this.#queue = new DeadlineQueue(options.clock ?? epochNow);
  }

  refusal(): Error | undefined {
    if (this.#draining) return new PoolUnavailableError("shutting down");
    if (this.#queue.length >= (this.options.queueLimit ?? 16)) return new QueueFullError(1);
  }

  get backend(): string {
    return this.engine.options.backend ?? "auto";
  }

  get queueDepth(): number {
    return this.#queue.length;
  }

  get running(): number {
    return this.#current ? 1 : 0;
  }

  backlog(): Backlog {
    const c = this.#current;
    return {
      running: c ? [{ elapsedMs: performance.now() - c.started, serviceMs: c.job.serviceMs }] : [],
      queued: this.#queue.items.map((w) => ({ serviceMs: w.job.serviceMs })),
      workers: 1,
    };
  }

  async warm(methods: string[]): Promise<void> {
    for (const method of methods) await this.engine.runner(method).catch(() => undefined);
  }

  classify(job: ClassifyJob): Promise<ClassifyResult> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    return new Promise((resolve, reject) => {
      this.#queue.push(job, { resolve, reject });
      void this.#pump();
    });
  }

  async #pump(): Promise<void> {
    if (this.#current) return;
    const { next, refused } = this.#queue.take();
    for (const r of refused) r.handle.reject(r.error);
    if (!next) {
      this.#idle.splice(0).forEach((f) => f());
      return;
    }
    const job = { ...next.job, ...next.decided, decide: undefined };
    this.#current = { job, started: performance.now() };
    const queueMs = (this.options.clock ?? epochNow)() - next.arrived;
    try {
      const result = await runJob(this.engine, job, {
        ...this.options,
        othersWaiting: () => this.#queue.length > 0,
        finishBy: () => this.#queue.finishBy(),
      });
      next.handle.resolve({ ...result, queueMs, predictedMs: next.decided?.predictedMs });
    } catch (e) {
      next.handle.reject(e as Error);
    } finally {
      this.#current = undefined;
    }
    await this.#pump();
  }

  /**
   * Stops intake and waits for the queued and running jobs; at `deadlineMs` the queued ones are
   * answered unavailable. A running job cannot be stopped on this thread: it finishes first.
   */
  async drain(deadlineMs = Infinity): Promise<void> {
    this.#draining = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (Number.isFinite(deadlineMs)) {
      timer = setTimeout(() => {
        const cut = new PoolUnavailableError("shutting down: the drain deadline passed");
        for (const w of [...this.#queue.items]) {
          this.#queue.remove(w.handle);
          w.handle.reject(cut);
        }
      }, deadlineMs);
    }
    while (this.#current || this.#queue.length > 0) {
      await new Promise<void>((resolve) => this.#idle.push(resolve));
    }
    clearTimeout(timer);
    await this.engine.close();
  }
}
