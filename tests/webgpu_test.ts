// The WebGPU path, forced onto the software adapter (llvmpipe) where no real GPU exists.
import assert from "node:assert/strict";
import { BackendError, createSession, findGpuAdapter } from "../lib/backend/session.ts";
import { buildViTGraph } from "../lib/vit/graph.ts";
import { HAS_SHARED } from "./helpers/shared.ts";
import { maxAbsDiff, randomPixels, randomWeights, tinyConfig } from "./helpers/tiny_vit.ts";

const anyAdapter = await findGpuAdapter(true);
const realAdapter = await findGpuAdapter(false);
if (!anyAdapter) console.warn("skipping WebGPU tests: no WebGPU adapter at all");

Deno.test({
  name: "webgpu: refused with a clear error when only a software adapter exists",
  ignore: !anyAdapter || !!realAdapter,
  fn: async () => {
    const model = buildViTGraph({ config: tinyConfig(), weights: randomWeights(tinyConfig()) });
    await assert.rejects(
      createSession(model, { backend: "webgpu" }),
      (e: Error) => e instanceof BackendError && /only a software adapter/.test(e.message),
    );
  },
});

Deno.test({
  name: "webgpu: a tiny ViT on the (forced) WebGPU adapter matches WASM",
  ignore: !anyAdapter,
  fn: async () => {
    const config = tinyConfig();
    const model = buildViTGraph({ config, weights: randomWeights(config) });
    const feeds = {
      pixel_values: { data: randomPixels(config, 2), dims: [2, 3, 32, 32] },
      r: { data: new BigInt64Array(config.depth), dims: [config.depth] },
    };
    const gpu = await createSession(model, { backend: "webgpu", allowFallbackAdapter: true });
    const cpu = await createSession(model, { backend: "wasm" });
    assert.equal(gpu.backend, "webgpu");
    const a = (await gpu.run(feeds)).logits.data as Float32Array;
    const b = (await cpu.run(feeds)).logits.data as Float32Array;
    assert.ok(maxAbsDiff(a, b) < 1e-3, `max abs diff ${maxAbsDiff(a, b)}`);
    await gpu.release();
    await cpu.release();
  },
});

/** What one run of `helpers/webgpu_golden.ts` gave: its result line, or where it hung. */
interface GoldenRun {
  result?: { agree: number; images: number; maxAbsDiff: number };
  hungAt?: string;
}

/** Runs the golden comparison in a child process, killed if it takes longer than `limitMs`. */
async function runGoldenChild(limitMs: number): Promise<GoldenRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("./helpers/webgpu_golden.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stdout = "", stderr = "";
  const collect = async (stream: ReadableStream<Uint8Array>, append: (s: string) => void) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) append(decoder.decode(chunk, { stream: true }));
  };
  const streams = Promise.all([
    collect(child.stdout, (s) => stdout += s),
    collect(child.stderr, (s) => stderr += s),
  ]);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), limitMs);
  });
  const outcome = await Promise.race([child.status, timedOut]);
  clearTimeout(timer);
  if (outcome === "timeout") child.kill("SIGKILL");
  await child.status;
  await streams;
  const line = stdout.split("\n").find((l) => l.startsWith("{"));
  if (line) return { result: JSON.parse(line) };
  const stages = stderr.split("\n").filter((l) => l.startsWith("stage: "));
  if (outcome === "timeout") return { hungAt: stages.at(-1) ?? "before its first stage" };
  throw new Error(`the WebGPU golden run failed (exit ${outcome.code}):\n${stderr}`);
}

Deno.test({
  name: "webgpu: DeiT-Tiny on WebGPU and WASM agree on top-1 for the 48 golden images",
  ignore: !anyAdapter || !HAS_SHARED,
  fn: async () => {
    // The software adapter stack has hung once in CI with no error; a hang is retried once and
    // reported with the stage it stopped in, and a second hang fails the test.
    const limitMs = 480_000;
    let run = await runGoldenChild(limitMs);
    if (run.hungAt) {
      console.warn(`WebGPU golden run hung (${run.hungAt}) for ${limitMs / 1000} s; retrying`);
      run = await runGoldenChild(limitMs);
    }
    assert.ok(run.result, `the WebGPU golden run hung twice, the second time at ${run.hungAt}`);
    const { agree, images, maxAbsDiff } = run.result;
    console.log(
      `WebGPU vs WASM: top-1 agree ${agree}/${images}, max abs logit diff ${
        maxAbsDiff.toExponential(2)
      }`,
    );
    assert.equal(images, 48);
    assert.equal(agree, 48);
  },
});
