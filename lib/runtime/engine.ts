/**
 * One loaded model and the sessions that run its merge methods, started on first use and shared
 * by every request: one session for every method (one copy of the weights, one thread pool), or
 * one per method, each with a graph holding only that method's step. The explain graph, which
 * also tracks source maps, is a session of its own started when first asked for.
 * @module
 */
import type { SessionOptions } from "../backend/session.ts";
import { Classifier } from "./classifier.ts";
import { methodByName, METHODS } from "../merge/methods.ts";
import type { MergeMethod, MethodOptions } from "../merge/step.ts";
import { loadModelBundle, type ModelBundle } from "../checkpoint/bundle.ts";

/** A classifier and the method a job asked for. */
export interface Runner {
  classifier: Classifier;
  method: MergeMethod | undefined;
}

/**
 * How the methods share sessions: `shared` (the default), one session whose graph holds every
 * method's step; `per-method`, a session per method with only its own step, and the plain model
 * for `none`. A method's own graph runs 2-12 % faster than the shared one on native when the same
 * method runs again (unmerged: the plain graph, 10 %), but 2-9 % on a stream of mixed methods,
 * since then each run finds other weights in the cache, and each session holds a copy of the
 * weights (native DeiT-Tiny: 600 MB against 350 MB); under load it did not pay (two paired runs,
 * docs/PERFORMANCE.md). It is meant for deployments whose clients mostly name one method.
 */
export type SessionLayout = "shared" | "per-method";
/** The layouts a user may name. */
export const SESSION_LAYOUTS: readonly SessionLayout[] = ["shared", "per-method"];

/** The sessions of every method over one model bundle. */
export class Engine {
  /** By `explain`, `serve` (shared layout) or method name (per-method layout). */
  #sessions = new Map<string, Promise<Classifier>>();

  /** The bundle until the sessions hold its weights; then read again when needed. */
  #bundle?: ModelBundle;

  constructor(
    bundle: ModelBundle,
    readonly options: SessionOptions & MethodOptions & {
      /** Blocks per segment of the serving graph (default `DEFAULT_SEGMENT`). */
      segments?: number;
      /** Default `shared`. */
      sessions?: SessionLayout;
    } = {},
  ) {
    this.#bundle = bundle;
    this.dir = bundle.dir;
    this.layout = options.sessions ?? "shared";
  }

  /** The model directory. */
  readonly dir: string;

  /** How the methods share sessions. */
  readonly layout: SessionLayout;

  #key(method: string, explain: boolean): string {
    return explain ? "explain" : this.layout === "shared" ? "serve" : method;
  }

  /** Whether the session running `method` (or explaining it) was asked for before. */
  started(method: string, explain = false): boolean {
    return this.#sessions.has(this.#key(method, explain));
  }

  /**
   * The classifier running `method` (`none` = the plain model), the explain one (with source
   * maps) for `explain`; throws `UnknownMethodError`, and the method's own error (SAD-TM without
   * a prior) when it cannot run.
   */
  async runner(method: string, explain = false): Promise<Runner> {
    const merge = methodByName(method);
    const key = this.#key(method, explain);
    const shared = explain || this.layout === "shared";
    let c = this.#sessions.get(key);
    if (!c) {
      c = (async () => {
        const bundle = this.#bundle ?? await loadModelBundle(this.dir);
        const classifier = await Classifier.fromBundle(bundle, {
          ...this.options,
          method: shared ? Object.values(METHODS) : merge,
          sources: explain,
          // The plain model has nothing to re-plan, so it runs in one piece.
          segments: explain || !(shared || merge) ? false : this.options.segments ?? true,
        });
        // Holding the weights once they live in a session would cost their size in memory;
        // per method, the next method's session needs them.
        if (key === "serve") this.#bundle = undefined;
        return classifier;
      })();
      // A failed start is not cached, so a fix takes effect.
      c.catch(() => this.#sessions.delete(key));
      this.#sessions.set(key, c);
    }
    return { classifier: await c, method: merge };
  }

  /** Releases every session. */
  async close(): Promise<void> {
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    // Every session is released, even when one of them fails to.
    const released = await Promise.allSettled(
      sessions.map(async (c) => await (await c.catch(() => undefined))?.release()),
    );
    const failed = released.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
}
