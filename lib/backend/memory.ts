/**
 * Giving freed heap memory back to the system. Loading a model allocates and drops large
 * buffers (the weights file, the serialized graph). V8 frees a dropped buffer only at its next
 * full collection, which may come much later, and glibc then keeps what a thread's arena freed
 * for reuse: on WASM the server held 100+ MB of such memory once ready (docs/PERFORMANCE.md,
 * memory). `collectGarbage` frees the buffers, `malloc_trim` returns the memory. The trim needs
 * FFI and glibc; elsewhere (edge runtimes, musl, macOS) it does nothing.
 * @module
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

let gc: (() => void) | null | undefined;

/**
 * Runs a full garbage collection of the calling isolate (each worker is its own), so the buffers
 * it dropped are freed now; false where the runtime does not allow it.
 *
 * @example
 * ```ts
 * import { collectGarbage } from "./lib/backend/memory.ts";
 * collectGarbage(); // after a session has taken a model's weights
 * ```
 */
export function collectGarbage(): boolean {
  if (gc === undefined) {
    try {
      // Exposed to contexts created from now on; the one made here hands it over.
      setFlagsFromString("--expose-gc");
      gc = (runInNewContext("gc") as (() => void) | undefined) ?? null;
    } catch {
      gc = null;
    }
  }
  gc?.();
  return gc !== null;
}

/**
 * Asks the C allocator to return free memory to the system; true when it could be asked.
 *
 * @example
 * ```ts
 * import { releaseFreedMemory } from "./lib/backend/memory.ts";
 * releaseFreedMemory(); // after a model's session is ready
 * ```
 */
export function releaseFreedMemory(): boolean {
  if (Deno.build.os !== "linux") return false;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return false;
    const libc = Deno.dlopen("libc.so.6", {
      malloc_trim: { parameters: ["usize"], result: "i32" },
    });
    try {
      libc.symbols.malloc_trim(0n);
    } finally {
      libc.close();
    }
    return true;
  } catch {
    // No glibc (musl, a sandbox without dlopen): nothing to trim with.
    return false;
  }
}

/** How long the work must have stopped before `IdleRelease` hands memory back. */
export const IDLE_RELEASE_MS = 1000;

/**
 * Hands freed memory back once the work has stopped for `idleMs`. A burst of requests leaves
 * freed buffers (bodies, decoded pixels, tensors) in the allocator's arenas: on WASM with
 * DeiT-Tiny, RSS rose by about 100 MB over 400 requests and a trim took 55 MB of it back
 * (docs/PERFORMANCE.md, memory). Trimming only when idle keeps its cost off the answers.
 *
 * @example
 * ```ts
 * import { IdleRelease } from "./lib/backend/memory.ts";
 * const idle = new IdleRelease();
 * idle.begin(); // a request arrives
 * idle.end(); // it is answered: in a second with nothing else running, memory is returned
 * ```
 */
export class IdleRelease {
  #running = 0;
  #timer?: ReturnType<typeof setTimeout>;
  #worked = false;

  constructor(
    readonly idleMs = IDLE_RELEASE_MS,
    readonly release: () => unknown = releaseFreedMemory,
  ) {}

  /** Work started. */
  begin(): void {
    this.#running++;
    this.#worked = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Work ended; when nothing else runs, the release is due in `idleMs`. */
  end(): void {
    this.#running = Math.max(0, this.#running - 1);
    if (this.#running > 0 || !this.#worked) return;
    clearTimeout(this.#timer);
    const timer = setTimeout(() => {
      this.#timer = undefined;
      this.#worked = false;
      this.release();
    }, this.idleMs);
    // A pending release never holds the process open.
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }
}
