import assert from "node:assert/strict";
import { Image } from "imagescript";
import { join } from "node:path";
import { JobError, PoolUnavailableError, QueueFullError, WorkerPool } from "../workers/pool.ts";
import { writeTinyModel } from "./helpers/tiny_model_dir.ts";

const model = await writeTinyModel(join(await Deno.makeTempDir(), "m"));
const image = await new Image(40, 40).fill(0x3366ccff).encode();
const job = (method = "none") => ({ method, topK: 3, image });

async function pool(options: Partial<Parameters<typeof WorkerPool.start>[0]> = {}) {
  return await WorkerPool.start({
    size: 2,
    queueLimit: 8,
    jobTimeoutMs: 20_000,
    init: { model, backend: "wasm", threads: 1, warm: ["none"] },
    ...options,
  });
}

Deno.test("pool: workers classify in parallel and report queue time", async () => {
  const p = await pool();
  const results = await Promise.all(
    Array.from({ length: 6 }, (_, i) => p.classify(job(i % 2 ? "tome" : "none"))),
  );
  for (const r of results) {
    assert.equal(r.top.length, 3);
    assert.ok(r.queueMs >= 0 && r.inferMs > 0);
  }
  assert.ok(results[1].tokens.at(-1)! < 65);
  assert.equal(p.backend, "wasm");
  await p.drain();
});

Deno.test("pool: a full queue answers at once with retry-after; bad images are job errors", async () => {
  const p = await pool({ size: 1, queueLimit: 2 });
  const accepted = [p.classify(job()), p.classify(job()), p.classify(job())];
  await assert.rejects(
    p.classify(job()),
    (e: Error) => e instanceof QueueFullError && e.retryAfterSeconds >= 1,
  );
  await Promise.all(accepted);
  await assert.rejects(
    p.classify({ ...job(), image: new Uint8Array([1, 2, 3]) }),
    (e: Error) =>
      e instanceof JobError && e.name === "ImageError" &&
      (e as JobError).code === "unsupported_format",
  );
  await p.drain();
  await assert.rejects(p.classify(job()), PoolUnavailableError);
});

Deno.test("pool: a crashed or hung worker is replaced and its request retried once", async () => {
  const replaced: string[] = [];
  const p = await pool({ size: 1, jobTimeoutMs: 3000, onReplace: (why) => replaced.push(why) });
  p.injectFault(0, "crash");
  const afterCrash = await p.classify(job());
  assert.equal(afterCrash.top.length, 3);
  p.injectFault(0, "hang");
  const afterHang = await p.classify(job());
  assert.equal(afterHang.top.length, 3);
  assert.equal(replaced.length, 2);
  assert.match(replaced[0], /crashed: .*injected crash/);
  assert.equal(replaced[1], "hung");
  // The pool keeps working, with nothing left queued or running.
  await p.classify(job());
  assert.equal(p.queueDepth + p.running, 0);
  await p.drain();
});
