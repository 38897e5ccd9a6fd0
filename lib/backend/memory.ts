/**
 * Giving freed heap memory back to the system. Loading a model allocates and frees large
 * buffers (the weights file, the serialized graph), and glibc keeps what a thread's arena freed
 * for reuse: on WASM the server held 100+ MB of such free memory once ready
 * (docs/PERFORMANCE.md, memory). `malloc_trim` returns it. It needs FFI and glibc; elsewhere
 * (edge runtimes, musl, macOS) it does nothing.
 * @module
 */

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
