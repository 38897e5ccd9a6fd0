/**
 * One session interface for every inference backend. Callers hand over an ONNX model and plain
 * typed arrays; which runtime executes the graph is a detail of `createSession`.
 * @module
 */
import { UserError } from "../errors.ts";
import type * as ortTypes from "onnxruntime-web";

/** Backends edgemerge can run on. */
export type BackendName = "wasm" | "webgpu";
/** A backend request: a concrete backend, or `auto` (WebGPU on a real GPU, else WASM). */
export type BackendChoice = BackendName | "auto";
/** The backends a user may name, for CLI and API validation. */
export const BACKEND_CHOICES: readonly BackendChoice[] = ["auto", "wasm", "webgpu"];

/** WASM threads when none are asked for (capped by the cores). */
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
  /** WASM threads (default: 2, capped by the cores). Fixed once the first WASM session starts. */
  threads?: number;
  /** Accept a software WebGPU adapter such as llvmpipe (tests only: it is ~40x slower). */
  allowFallbackAdapter?: boolean;
}

/** A requested backend cannot start; the message says why and what to use instead. */
export class BackendError extends UserError {
  override name = "BackendError";
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

/** Picks the backend for `auto`: WebGPU when a non-fallback adapter exists, else WASM. */
export async function resolveBackend(choice: BackendChoice = "auto"): Promise<BackendName> {
  if (choice !== "auto") return choice;
  return (await findGpuAdapter(false)) ? "webgpu" : "wasm";
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

/** Creates a session for `model` on the requested backend, or throws `BackendError`. */
export async function createSession(
  model: Uint8Array,
  options: SessionOptions = {},
): Promise<Session> {
  const backend = await resolveBackend(options.backend);
  const threads = options.threads ?? Math.min(DEFAULT_THREADS, navigator.hardwareConcurrency ?? 1);
  const ort = backend === "webgpu"
    ? await loadWebGpu(options.allowFallbackAdapter ?? false)
    : await loadWasm(threads);
  try {
    const session = await ort.InferenceSession.create(model, {
      executionProviders: [backend],
      graphOptimizationLevel: "all",
      logSeverityLevel: 3,
    });
    return wrap(ort, session, backend);
  } catch (e) {
    throw new BackendError(`${backend}: cannot create a session: ${(e as Error).message}`);
  }
}
