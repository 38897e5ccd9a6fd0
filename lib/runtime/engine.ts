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

/** Sessions per method over one model bundle. */
export class Engine {
  #classifiers = new Map<string, Promise<Classifier>>();

  constructor(
    readonly bundle: ModelBundle,
    readonly options: SessionOptions & MethodOptions = {},
  ) {}

  /** Whether the session of `method` was asked for before (started or starting). */
  started(method: string): boolean {
    return this.#classifiers.has(method);
  }

  /** The classifier of `method` (`none` = the plain model); throws `UnknownMethodError`. */
  classifier(method: string): Promise<Classifier> {
    let c = this.#classifiers.get(method);
    if (!c) {
      c = Classifier.fromBundle(this.bundle, { ...this.options, method: methodByName(method) });
      // A failed start (e.g. no prior for SAD-TM) is not cached, so a fix takes effect.
      c.catch(() => this.#classifiers.delete(method));
      this.#classifiers.set(method, c);
    }
    return c;
  }

  /** Releases every session. */
  async close(): Promise<void> {
    for (const c of this.#classifiers.values()) await (await c.catch(() => undefined))?.release();
    this.#classifiers.clear();
  }
}
