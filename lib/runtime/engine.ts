/**
 * One loaded model and one session for every merge method (one copy of the weights, one thread
 * pool), started on first use and shared by every request; the explain graph, which also tracks
 * source maps, is a second session started when first asked for.
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

/** The session of every method over one model bundle. */
export class Engine {
  #sessions = new Map<"serve" | "explain", Promise<Classifier>>();

  /** The bundle until the serving session holds its weights; then read again when needed. */
  #bundle?: ModelBundle;

  constructor(
    bundle: ModelBundle,
    readonly options: SessionOptions & MethodOptions & {
      /** Blocks per segment of the serving graph (default `DEFAULT_SEGMENT`). */
      segments?: number;
    } = {},
  ) {
    this.#bundle = bundle;
    this.dir = bundle.dir;
  }

  /** The model directory. */
  readonly dir: string;

  /** Whether the session for `explain` (or serving) was asked for before (started or starting). */
  started(explain = false): boolean {
    return this.#sessions.has(explain ? "explain" : "serve");
  }

  /**
   * The classifier running `method` (`none` = the plain model), the explain one (with source
   * maps) for `explain`; throws `UnknownMethodError`, and the method's own error (SAD-TM without
   * a prior) when it cannot run.
   */
  async runner(method: string, explain = false): Promise<Runner> {
    const merge = methodByName(method);
    const kind = explain ? "explain" : "serve";
    let c = this.#sessions.get(kind);
    if (!c) {
      c = (async () => {
        const bundle = this.#bundle ?? await loadModelBundle(this.dir);
        const classifier = await Classifier.fromBundle(bundle, {
          ...this.options,
          method: Object.values(METHODS),
          sources: explain,
          segments: explain ? false : this.options.segments ?? true,
        });
        // Holding the weights once they live in a session would cost their size in memory.
        if (!explain) this.#bundle = undefined;
        return classifier;
      })();
      // A failed start is not cached, so a fix takes effect.
      c.catch(() => this.#sessions.delete(kind));
      this.#sessions.set(kind, c);
    }
    return { classifier: await c, method: merge };
  }

  /** Releases every session. */
  async close(): Promise<void> {
    for (const c of this.#sessions.values()) await (await c.catch(() => undefined))?.release();
    this.#sessions.clear();
  }
}
