// Backend choice: auto falls back to WASM with a reason when FFI is denied; native names what it
// needs; and (where the binding loads) native and WASM agree on DeiT-Tiny's golden images.
import assert from "node:assert/strict";
import { join } from "node:path";
import { collectGarbage, IdleRelease, releaseFreedMemory } from "../lib/backend/memory.ts";
import { BackendError, createSession, resolveBackend } from "../lib/backend/session.ts";
import { Classifier } from "../lib/runtime/classifier.ts";
import { CPU_BACKENDS } from "./helpers/fixtures.ts";
import { argmax, DEIT_TINY, devImage, goldenDev48, HAS_SHARED } from "./helpers/shared.ts";

/** The project's import map, which the probe scripts in a temporary folder would not find. */
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

Deno.test("backend: without --allow-ffi, auto takes WASM and says why; native is a clear error", async () => {
  const dir = await Deno.makeTempDir();
  const script = join(dir, "probe.ts");
  const session = new URL("../lib/backend/session.ts", import.meta.url).href;
  await Deno.writeTextFile(
    script,
    `import { createSession, resolveBackend } from "${session}";
const auto = await resolveBackend("auto");
const native = await createSession(new Uint8Array(), { backend: "native" }).then(
  () => "started",
  (e) => e.message,
);
console.log(JSON.stringify({ auto, native }));`,
  );
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--config", CONFIG, "--allow-read", "--allow-env", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
  const { auto, native } = JSON.parse(new TextDecoder().decode(run.stdout));
  assert.equal(auto.backend, "wasm");
  assert.match(auto.reason, /FFI is not permitted \(run Deno with --allow-ffi\)/);
  assert.match(native, /native: FFI is not permitted/);
});

Deno.test({
  name:
    "backend: with FFI, auto takes native when the binding loads; a bad model is a BackendError",
  ignore: !CPU_BACKENDS.includes("native"),
  async fn() {
    const { backend, reason } = await resolveBackend("auto");
    assert.equal(backend, "native", reason);
    await assert.rejects(
      createSession(new Uint8Array([1, 2, 3]), { backend: "native" }),
      (e) => e instanceof BackendError && /native: cannot create a session/.test(e.message),
    );
  },
});

Deno.test({
  name: "backend: native and WASM agree on DeiT-Tiny's 48 golden images (top-1, logits)",
  ignore: !HAS_SHARED || !CPU_BACKENDS.includes("native"),
  async fn() {
    const wasm = await Classifier.load({ model: DEIT_TINY, backend: "wasm" });
    const native = await Classifier.load({ model: DEIT_TINY, backend: "native" });
    let agree = 0, golden = 0, maxDiff = 0;
    for (const image of await goldenDev48()) {
      const input = await wasm.prepare(await devImage(image.file));
      const [a] = await wasm.run([input]);
      const [b] = await native.run([input]);
      if (argmax(a.logits) === argmax(b.logits)) agree++;
      if (argmax(b.logits) === image.top5[0]) golden++;
      maxDiff = Math.max(maxDiff, ...a.logits.map((v, i) => Math.abs(v - b.logits[i])));
    }
    console.log(
      `native vs WASM: top-1 agree ${agree}/48, golden ${golden}/48, max diff ${maxDiff}`,
    );
    assert.equal(agree, 48);
    assert.ok(golden >= 47, `golden top-1 ${golden}/48`);
    assert.ok(maxDiff < 1e-3, `max abs logit diff ${maxDiff}`);
    await wasm.release();
    await native.release();
  },
});

Deno.test("memory: freed memory is handed back where FFI and glibc allow; without FFI nothing happens", async () => {
  // A deno built for linux-gnu runs on glibc, which has malloc_trim.
  assert.equal(releaseFreedMemory(), Deno.build.os === "linux" && Deno.build.env === "gnu");
  // A process without FFI permission (as on an edge runtime).
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(
    script,
    `import { releaseFreedMemory } from "${
      new URL("../lib/backend/memory.ts", import.meta.url).href
    }";\nconsole.log(releaseFreedMemory());\n`,
  );
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(script);
  assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
  assert.equal(new TextDecoder().decode(run.stdout).trim(), "false");
});

Deno.test("memory: collectGarbage frees a dropped buffer now, in the main thread and in a worker", async () => {
  // A WeakRef empties only when a collection has freed its target (not within the job that made it).
  const dropped = () => new WeakRef(new Uint8Array(32 << 20));
  const ref = dropped();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(collectGarbage(), true);
  assert.ok(ref.deref() === undefined, "the dropped buffer is still alive");

  // In a worker of a process of its own: onnxruntime-web puts Node's Worker in place of the web
  // one once it has started a session in this process.
  const dir = await Deno.makeTempDir();
  const memory = new URL("../lib/backend/memory.ts", import.meta.url).href;
  await Deno.writeTextFile(
    join(dir, "worker.ts"),
    `import { collectGarbage } from "${memory}";
const ref = new WeakRef(new Uint8Array(32 << 20));
setTimeout(() => postMessage([collectGarbage(), ref.deref() === undefined]));`,
  );
  await Deno.writeTextFile(
    join(dir, "main.ts"),
    `const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
worker.onmessage = (e) => { console.log(JSON.stringify(e.data)); worker.terminate(); };`,
  );
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--config", CONFIG, "--allow-read", join(dir, "main.ts")],
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(dir, { recursive: true });
  assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
  assert.deepEqual(JSON.parse(new TextDecoder().decode(run.stdout)), [true, true]);
});

Deno.test("memory: freed memory is handed back only once nothing has run for the idle time", async () => {
  let released = 0;
  const idle = new IdleRelease(20, () => released++);
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  idle.end(); // nothing ran: nothing to hand back
  await pause(60);
  assert.equal(released, 0);

  idle.begin();
  idle.begin();
  idle.end(); // one still runs
  await pause(60);
  assert.equal(released, 0);
  idle.end();
  idle.begin(); // work came back before the idle time passed
  await pause(60);
  assert.equal(released, 0);
  idle.end();
  for (let waited = 0; released === 0 && waited < 5000; waited += 10) await pause(10);
  assert.equal(released, 1);
  await pause(60);
  assert.equal(released, 1); // once per idle spell
});
