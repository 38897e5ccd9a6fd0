/**
 * The waiting room of an `Inference`: earliest deadline first (jobs without a budget count as
 * due a minute after arrival, so they neither jump nor starve), and the decision of how a
 * budgeted job runs is taken when a worker takes it, from the time left then. A job that can no
 * longer make its deadline is answered at once when it asked to be refused, and otherwise runs
 * (at its cheapest) only when no job that can still make it waits. Jobs whose client left, or
 * that waited longer than `PATIENCE_MS`, are answered without running.
 * @module
 */
import { ClientGoneError, ExpiredError } from "./errors.ts";
import type { ClassifyJob, Decided } from "./jobs.ts";

/**
 * Jobs without a budget are due this long after they arrive, and no job waits longer: past it,
 * it is answered without running (a best-effort job past its deadline still runs until then).
 */
export const PATIENCE_MS = 60_000;

/** Jobs behind the next one whose deadlines it leaves room for. */
const LOOKAHEAD = 4;

/** A queued job and how to answer it. */
export interface Waiting<T> {
  job: ClassifyJob;
  /** Epoch ms when it arrived. */
  arrived: number;
  /** The caller's handle (promise callbacks, attempts, ...). */
  handle: T;
  /**
   * Its decision once it was found hopeless: time only runs out, so it is not decided again
   * (deciding every waiting job on every take would cost the main thread more as the queue grows).
   */
  hopeless?: Decided;
}

/** What taking from the queue gives: the job as it will run, or the ones answered instead. */
export interface Taken<T> {
  next?: Waiting<T> & { decided?: Decided };
  /** Jobs refused on the way (hopeless, `on_miss=reject`), with why. */
  refused: (Waiting<T> & { error: Error })[];
}

/** Earliest deadline first, deciding late. */
export class DeadlineQueue<T> {
  #items: Waiting<T>[] = [];

  constructor(readonly clock: () => number) {}

  get length(): number {
    return this.#items.length;
  }

  /** The queued jobs, in the order they will be considered. */
  get items(): readonly Waiting<T>[] {
    return this.#items;
  }

  /** When `w` is due. */
  #due(w: Waiting<T>): number {
    return w.job.deadline ?? w.arrived + PATIENCE_MS;
  }

  /**
   * Adds a job. A retry comes `first` among the jobs due when it is, and keeps the time it
   * first `arrived` (its patience runs from then).
   */
  push(job: ClassifyJob, handle: T, first = false, arrived = this.clock()): void {
    const w: Waiting<T> = { job, arrived, handle };
    const due = this.#due(w);
    let i = this.#items.findIndex((x) => first ? this.#due(x) >= due : this.#due(x) > due);
    if (i < 0) i = this.#items.length;
    this.#items.splice(i, 0, w);
  }

  /** Replaces `handle`'s job by `job` (the same request, e.g. now with its image decoded). */
  replaceJob(handle: T, job: ClassifyJob): void {
    const w = this.#items.find((x) => x.handle === handle);
    if (w) w.job = job;
  }

  /** Removes `handle`'s job (its client left); true if it was waiting. */
  remove(handle: T): boolean {
    const i = this.#items.findIndex((w) => w.handle === handle);
    if (i >= 0) this.#items.splice(i, 1);
    return i >= 0;
  }

  /**
   * Epoch ms by which the job at `i` must finish for the next few budgeted jobs behind it to
   * still make their deadlines, each after the least service of those before it (undefined: none
   * waits).
   */
  #finishBy(i: number): number | undefined {
    let by: number | undefined, ahead = 0;
    for (const w of this.#items.slice(i + 1, i + 1 + LOOKAHEAD)) {
      if (w.job.deadline !== undefined && !w.hopeless) {
        by = Math.min(by ?? Infinity, w.job.deadline - ahead - (w.job.serviceMs ?? 0));
      }
      ahead += w.job.serviceMs ?? 0;
    }
    return by;
  }

  /**
   * Epoch ms by which the jobs running now should finish for the first few waiting to make their
   * deadlines (undefined: no budgeted job waits). A running job re-planned between segments
   * hurries for them when it still can (`RunOptions.finishBy`).
   *
   * @example
   * ```ts
   * const queue = new DeadlineQueue<string>(() => 0);
   * queue.push({ method: "", deadline: 100, serviceMs: 30, image: new Uint8Array() }, "a");
   * queue.finishBy(); // 70
   * ```
   */
  finishBy(): number | undefined {
    return this.#finishBy(-1);
  }

  /**
   * The next job to run: the first in deadline order whose decision is not hopeless; refuses
   * hopeless jobs that asked for it on the way; when only hopeless best-effort jobs wait, the
   * earliest of them.
   */
  take(): Taken<T> {
    const refused: Taken<T>["refused"] = [];
    let fallback: (Waiting<T> & { decided?: Decided }) | undefined;
    for (let i = 0; i < this.#items.length;) {
      const w = this.#items[i];
      const gone = w.job.signal?.aborted
        ? new ClientGoneError("the client disconnected while the request was queued")
        : this.clock() - w.arrived > PATIENCE_MS
        ? new ExpiredError(this.clock() - w.arrived)
        : undefined;
      if (gone) {
        this.#items.splice(i, 1);
        refused.push({ ...w, error: gone });
        continue;
      }
      if (!w.job.decide) {
        this.#items.splice(i, 1);
        return { next: w, refused };
      }
      const by = this.#finishBy(i);
      const limit = by === undefined ? undefined : by - this.clock();
      const decided = w.hopeless ?? w.job.decide(limit, w.job.prepared !== undefined);
      if (decided instanceof Error) {
        this.#items.splice(i, 1);
        refused.push({ ...w, error: decided });
        continue;
      }
      if (decided.hopeless) {
        w.hopeless = decided;
        fallback ??= { ...w, decided };
        i++;
        continue;
      }
      this.#items.splice(i, 1);
      return { next: { ...w, decided }, refused };
    }
    if (fallback) this.remove(fallback.handle);
    return { next: fallback, refused };
  }
}
