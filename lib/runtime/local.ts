/**
 * In-process inference: jobs run one at a time on this thread (tests, single-threaded edge
 * runtimes). The worker pool (`workers/pool.ts`) is the other `Inference`.
 * @module
 */
import type { Engine } from "./engine.ts";
import {
  type Backlog,
  type ClassifyJob,
  type ClassifyResult,
  type Inference,
  runJob,
} from "./jobs.ts";

/** In-process inference, one job at a time. */
export class LocalInference implements Inference {
  #chain: Promise<unknown> = Promise.resolve();
  #waiting: ClassifyJob[] = [];
  #current?: { job: ClassifyJob; started: number };
  readonly workers = 1;

  constructor(readonly engine: Engine) {}

  get backend(): string {
    return this.engine.options.backend ?? "auto";
  }

  get queueDepth(): number {
    return this.#waiting.length;
  }

  get running(): number {
    return this.#current ? 1 : 0;
  }

  backlog(): Backlog {
    const c = this.#current;
    return {
      running: c
        ? [{ elapsedMs: performance.now() - c.started, serviceTime: c.job.serviceTime }]
        : [],
      queued: this.#waiting.map((job) => ({ serviceTime: job.serviceTime })),
      workers: 1,
    };
  }

  async warm(methods: string[]): Promise<void> {
    for (const method of methods) await this.engine.runner(method).catch(() => undefined);
  }

  classify(job: ClassifyJob): Promise<ClassifyResult> {
    const enqueued = performance.now();
    this.#waiting.push(job);
    const result = this.#chain.then(async () => {
      this.#waiting.splice(this.#waiting.indexOf(job), 1);
      this.#current = { job, started: performance.now() };
      const queueMs = performance.now() - enqueued;
      try {
        return { ...await runJob(this.engine, job), queueMs };
      } finally {
        this.#current = undefined;
      }
    });
    this.#chain = result.catch(() => {});
    return result;
  }

  async drain(): Promise<void> {
    await this.#chain;
    await this.engine.close();
  }
}
