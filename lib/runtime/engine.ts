/**
 * One loaded model and a session per merge method, created on first use and shared by every
 * request for that method.
 * @module
 */
import type { SessionOptions } from "../backend/session.ts";
import { Classifier } from "./classifier.ts";
import { methodByName } from "../merge/methods.ts";
import type { MethodOptions } from "../merge/step.ts";
import type { ModelBundle } from "../checkpoint/bundle.ts";

const key = (method: string, sources: boolean) => sources ? `${method}+sources` : method;

/** Sessions per method over one model bundle. */
export class Engine {
  #classifiers = new Map<string, Promise<Classifier>>();

  constructor(
    readonly bundle: ModelBundle,
    readonly options: SessionOptions & MethodOptions = {},
  ) {}

  /** Whether the session of `method` was asked for before (started or starting). */
  started(method: string, sources = false): boolean {
    return this.#classifiers.has(key(method, sources));
  }

  /**
   * The classifier of `method` (`none` = the plain model), with source maps for `sources`
   * (explain; started on first use); throws `UnknownMethodError`.
   */
  classifier(method: string, sources = false): Promise<Classifier> {
    const k = key(method, sources);
    let c = this.#classifiers.get(k);
    if (!c) {
      c = Classifier.fromBundle(this.bundle, {
        ...this.options,
        method: methodByName(method),
        sources,
      });
      // A failed start (e.g. no prior for SAD-TM) is not cached, so a fix takes effect.
      c.catch(() => this.#classifiers.delete(k));
      this.#classifiers.set(k, c);
    }
    return c;
  }

  /** Releases every session. */
  async close(): Promise<void> {
    for (const c of this.#classifiers.values()) await (await c.catch(() => undefined))?.release();
    this.#classifiers.clear();
  }
}
