/**
 * One session interface for every inference backend. Callers hand over an ONNX model and plain
 * typed arrays; which runtime executes the graph is a detail of `createSession`.
 * @module
 */
import { UserError } from "../errors.ts";
import { weightsOutside } from "../onnx/proto.ts";
import type * as ortTypes from "onnxruntime-web";

/** Backends edgemerge can run on. */
export type BackendName = "wasm" | "webgpu" | "native";
/**
 * A backend request: a concrete backend, or `auto` (WebGPU on a real GPU adapter, else native
 * when the runtime permits FFI and the binding loads, else WASM).
 */
export type BackendChoice = BackendName | "auto";
/** The backends a user may name, for CLI and API validation. */
export const BACKEND_CHOICES: readonly BackendChoice[] = ["auto", "native", "wasm", "webgpu"];

/** Threads per session when none are asked for (capped by the cores). */
export const DEFAULT_THREADS = 2;

/** Host-side tensor data: what goes into and comes out of a session. */
export interface HostTensor {
  data: Float32Array | BigInt64Array;
  dims: readonly number[];
}

/** A loaded model, ready to run. */
export interface Session {
  readonly backend: BackendName;
  run(feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>>;
  release(): Promise<void>;
}

/** Options for `createSession`. */
export interface SessionOptions {
  /** Default `auto`. */
  backend?: BackendChoice;
  /**
   * Threads per session (default: 2, capped by the cores). For WASM they are fixed once the
   * first WASM session of the thread starts.
   */
  threads?: number;
  /** Accept a software WebGPU adapter such as llvmpipe (tests only: it is ~40x slower). */
  allowFallbackAdapter?: boolean;
  /**
   * Native only: let the thread pool spin between the ops of a run (default true); it stops
   * spinning when the run ends. Spinning makes a 2-thread run faster (DeiT-Tiny unmerged 9.4 vs
   * 12.2 ms here). Without the stop, a pool kept spinning after its run and took the cores of
   * the next run of another session (two sessions taking turns: 18-23 ms a run, 10-11 with it).
   */
  spin?: boolean;
  /**
   * Native only: write ORT's per-node profile to `<profile>_<time>.json` when the session is
   * released (`bench/profile.ts` reads it).
   */
  profile?: string;
}

/** A requested backend cannot start; the message says why and what to use instead. */
export class BackendError extends UserError {
  override name = "BackendError";
}

/** The backend loaded but refused the graph it was given (a corrupt or foreign model). */
export class GraphRejectedError extends BackendError {
  override name = "GraphRejectedError";
}

type OrtModule = typeof ortTypes;

/** Returns a real (non-fallback) WebGPU adapter, a fallback one if allowed, or undefined. */
export async function findGpuAdapter(allowFallback: boolean): Promise<GPUAdapter | undefined> {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) return undefined;
  const adapter = await gpu.requestAdapter().catch(() => null);
  if (!adapter) return undefined;
  if (adapter.info.isFallbackAdapter && !allowFallback) return undefined;
  return adapter;
}

/** A backend and why it was chosen (for the log and `/v1/models`). */
export interface ResolvedBackend {
  backend: BackendName;
  reason: string;
}

/** Whether this runtime lets the native binding load (Deno: `--allow-ffi`). */
function ffiAllowed(): boolean {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (!deno?.permissions) return false;
  try {
    return deno.permissions.querySync({ name: "ffi" }).state === "granted";
  } catch {
    return false;
  }
}

let native: Promise<OrtModule> | undefined;

/** onnxruntime-node, loaded once; throws `BackendError` saying why it cannot load. */
function loadNative(): Promise<OrtModule> {
  if (!ffiAllowed()) {
    return Promise.reject(
      new BackendError("native: FFI is not permitted (run Deno with --allow-ffi); use wasm"),
    );
  }
  native ??= import("onnxruntime-node").then(
    (ort) => {
      ort.env.logLevel = "error";
      return ort as unknown as OrtModule;
    },
    (e) => {
      native = undefined;
      throw new BackendError(
        `native: the onnxruntime-node binding does not load (${
          (e as Error).message.split("\n")[0]
        }); use wasm`,
      );
    },
  );
  return native;
}

/** Why `backend` cannot run here, or undefined when it can (WebGPU: on a real adapter). */
export async function unavailable(backend: BackendName): Promise<string | undefined> {
  if (backend === "wasm") return undefined;
  if (backend === "webgpu") {
    return (await findGpuAdapter(false)) ? undefined : "WebGPU: no real GPU adapter";
  }
  return await loadNative().then(() => undefined, (e: Error) => e.message);
}

/**
 * The backend for a choice. `auto` takes WebGPU on a real (non-fallback) adapter, else native
 * when FFI is permitted and the binding loads, else WASM, and says why.
 */
export async function resolveBackend(choice: BackendChoice = "auto"): Promise<ResolvedBackend> {
  if (choice !== "auto") return { backend: choice, reason: "asked for" };
  if (await findGpuAdapter(false)) return { backend: "webgpu", reason: "a GPU adapter exists" };
  try {
    await loadNative();
    return { backend: "native", reason: "no GPU adapter; the native binding loads" };
  } catch (e) {
    return { backend: "wasm", reason: `no GPU adapter; ${(e as Error).message}` };
  }
}

async function loadWasm(threads: number): Promise<OrtModule> {
  const ort = await import("onnxruntime-web");
  ort.env.logLevel = "error";
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.simd = true;
  return ort;
}

async function loadWebGpu(allowFallback: boolean): Promise<OrtModule> {
  const adapter = await findGpuAdapter(allowFallback);
  if (!adapter) {
    const anyAdapter = await findGpuAdapter(true);
    throw new BackendError(
      anyAdapter
        ? `WebGPU: only a software adapter (${anyAdapter.info.description}) is available; ` +
          `use the wasm backend (or allow the fallback adapter for testing)`
        : "WebGPU: no adapter available on this machine; use the wasm backend",
    );
  }
  const ort = await import("onnxruntime-web/webgpu");
  ort.env.logLevel = "error";
  (ort.env.webgpu as { adapter?: GPUAdapter }).adapter = adapter;
  return ort;
}

function wrap(ort: OrtModule, session: ortTypes.InferenceSession, backend: BackendName): Session {
  return {
    backend,
    async run(feeds) {
      const ortFeeds: Record<string, ortTypes.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) {
        ortFeeds[name] = t.data instanceof BigInt64Array
          ? new ort.Tensor("int64", t.data, t.dims)
          : new ort.Tensor("float32", t.data, t.dims);
      }
      const out = await session.run(ortFeeds);
      const result: Record<string, HostTensor> = {};
      for (const [name, t] of Object.entries(out)) {
        result[name] = { data: t.data as Float32Array | BigInt64Array, dims: t.dims };
        t.dispose();
      }
      return result;
    },
    release: () => session.release(),
  };
}

/** Session options of a backend. */
function sessionOptions(
  backend: BackendName,
  threads: number,
  options: SessionOptions,
): ortTypes.InferenceSession.SessionOptions {
  const common = { graphOptimizationLevel: "all" as const, logSeverityLevel: 3 as const };
  if (backend !== "native") return { ...common, executionProviders: [backend] };
  return {
    ...common,
    executionProviders: ["cpu"],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    extra: {
      session: options.spin === false
        ? { intra_op: { allow_spinning: "0" } }
        : { intra_op: { allow_spinning: "1" }, force_spinning_stop: "1" },
    },
    ...(options.profile && { enableProfiling: true, profileFilePrefix: options.profile }),
  };
}

/** The last onnxruntime-web session creation, which the next one waits for. */
let creating: Promise<unknown> = Promise.resolve();

/**
 * An onnxruntime-web session of `model` with its weights given outside the graph. One at a time:
 * onnxruntime-web mounts external data for the whole module and unmounts all of it after each
 * creation, so two at once would read each other's weights.
 */
function createOutside(
  ort: OrtModule,
  model: Uint8Array,
  options: ortTypes.InferenceSession.SessionOptions,
): Promise<ortTypes.InferenceSession> {
  const created = creating.then(() => {
    let outside;
    try {
      outside = weightsOutside(model);
    } catch (e) {
      throw new Error(`not an ONNX model (${(e as Error).message})`);
    }
    return ort.InferenceSession.create(outside.graph, { ...options, externalData: outside.files });
  });
  creating = created.catch(() => undefined);
  return created;
}

/** Creates a session for `model` on the requested backend, or throws `BackendError`. */
export async function createSession(
  model: Uint8Array,
  options: SessionOptions = {},
): Promise<Session> {
  const { backend } = await resolveBackend(options.backend);
  const threads = options.threads ?? Math.min(DEFAULT_THREADS, navigator.hardwareConcurrency ?? 1);
  const ort = backend === "webgpu"
    ? await loadWebGpu(options.allowFallbackAdapter ?? false)
    : backend === "native"
    ? await loadNative()
    : await loadWasm(threads);
  try {
    // onnxruntime-web's WASM memory never shrinks: weights given outside the graph are copied
    // into it once, not twice. onnxruntime-node takes external data only as files.
    const session = backend === "native"
      ? await ort.InferenceSession.create(model, sessionOptions(backend, threads, options))
      : await createOutside(ort, model, sessionOptions(backend, threads, options));
    return wrap(ort, session, backend);
  } catch (e) {
    throw new GraphRejectedError(`${backend}: cannot create a session: ${(e as Error).message}`);
  }
}
