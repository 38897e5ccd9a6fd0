import assert from "node:assert/strict";
import { join } from "node:path";
import { Image } from "imagescript";
import {
  ClientGoneError,
  JobError,
  JobTimeoutError,
  PoolUnavailableError,
  QueueFullError,
  WorkerFaultError,
} from "../lib/runtime/errors.ts";
import { WorkerPool } from "../workers/pool.ts";
import { QueueState } from "../workers/protocol.ts";
import { tinyModel } from "./helpers/fixtures.ts";
import { loadModelConfig } from "../lib/checkpoint/bundle.ts";

const model = (await tinyModel()).dir;
const image = await new Image(40, 40).fill(0x3366ccff).encode();
const job = (method = "none") => ({ method, topK: 3, image });

Deno.test("pool: the queue's state reaches a worker's view of the shared buffer", () => {
  const pool = new QueueState();
  const worker = new QueueState(pool.buffer);
  assert.equal(worker.waiting(), 0);
  assert.equal(worker.finishBy(), undefined);
  const epochMs = 1_765_000_000_123.456;
  pool.write(3, epochMs);
  assert.equal(worker.waiting(), 3);
  assert.ok(Math.abs(worker.finishBy()! - epochMs) < 1e-3, `${worker.finishBy()}`);
  pool.write(1, undefined); // only unbudgeted jobs wait
  assert.equal(worker.waiting(), 1);
  assert.equal(worker.finishBy(), undefined);
});

async function pool(
  options: Partial<Parameters<typeof WorkerPool.start>[0]> = {},
  init: { fault?: "crash"; segmentBlocks?: number } = {},
) {
  return await WorkerPool.start({
    size: 2,
    queueLimit: 8,
    jobTimeoutMs: 20_000,
    init: { model, backend: "wasm", threads: 1, warm: ["none"], ...init },
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

Deno.test("pool: jobs in segments run them of the length the pool's init asks for", async () => {
  const segmentsOf = async (segmentBlocks?: number) => {
    const p = await pool({ size: 1 }, segmentBlocks === undefined ? {} : { segmentBlocks });
    const r = await p.classify({ ...job("tome"), segmented: true });
    await p.drain();
    return r.segments.map((s) => [s.from, s.to]);
  };
  // The tiny model has 4 blocks: one segment by default (6 blocks), two of 2, four of 1.
  assert.deepEqual(await segmentsOf(), [[0, 4]]);
  assert.deepEqual(await segmentsOf(2), [[0, 2], [2, 4]]);
  assert.deepEqual(await segmentsOf(1), [[0, 1], [1, 2], [2, 3], [3, 4]]);
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

Deno.test("pool: a crashed worker is replaced and its job retried once; a hung one's job is not", async () => {
  const replaced: string[] = [];
  const p = await pool({ size: 1, jobTimeoutMs: 3000, onReplace: (why) => replaced.push(why) });
  p.injectFault(0, "crash");
  const afterCrash = await p.classify(job());
  assert.equal(afterCrash.top.length, 3);
  p.injectFault(0, "hang");
  await assert.rejects(p.classify(job()), JobTimeoutError);
  assert.equal(replaced.length, 2);
  assert.match(replaced[0], /crashed: .*injected crash/);
  assert.match(replaced[1], /hung: no answer in 3000 ms/);
  // The pool keeps working, with nothing left queued or running.
  await p.classify(job());
  assert.equal(p.queueDepth + p.running, 0);
  await p.drain();
});

Deno.test("pool: a job that crashes every worker is answered with an error after one retry", async () => {
  const replaced: string[] = [];
  const p = await pool({ size: 1, onReplace: (why) => replaced.push(why) }, { fault: "crash" });
  await assert.rejects(p.classify(job()), WorkerFaultError);
  assert.equal(replaced.length, 2);
  await p.drain();
});

Deno.test("local inference: drain has a deadline for the queued jobs; the running one finishes", async () => {
  const { Engine } = await import("../lib/runtime/engine.ts");
  const { LocalInference } = await import("../lib/runtime/local.ts");
  const { loadModelBundle } = await import("../lib/checkpoint/bundle.ts");
  const local = new LocalInference(new Engine(await loadModelBundle(model), { backend: "wasm" }));
  const jobs = [local.classify(job()), local.classify(job()), local.classify(job())];
  jobs.forEach((j) => j.catch(() => {}));
  await local.drain(0);
  const outcomes = await Promise.allSettled(jobs);
  assert.equal(outcomes[0].status, "fulfilled");
  const last = outcomes[2];
  assert.ok(last.status === "rejected" && last.reason instanceof PoolUnavailableError);
  assert.ok(local.refusal() instanceof PoolUnavailableError);
});

Deno.test("pool: a job whose client left is dropped unrun; drain has a deadline", async () => {
  const p = await pool({ size: 1 });
  const running = p.classify(job());
  const gone = new AbortController();
  const left = p.classify({ ...job(), signal: gone.signal });
  gone.abort();
  await running;
  await assert.rejects(left, ClientGoneError);
  const busy = [p.classify(job()), p.classify(job()), p.classify(job())];
  busy.forEach((b) => b.catch(() => {}));
  await p.drain(1);
  const outcomes = await Promise.allSettled(busy);
  assert.ok(
    outcomes.some((o) => o.status === "rejected" && o.reason instanceof PoolUnavailableError),
  );
  assert.ok(p.refusal() instanceof PoolUnavailableError);
});

Deno.test("pool: queued jobs at one operating point run as a batch; a bad image fails alone", async () => {
  const p = await pool({ size: 1, maxBatch: 4 });
  const at = (batchKey?: string) => ({ ...job("tome"), schedule: [2, 2, 2, 2], batchKey });
  const alone = await p.classify(at());
  const first = p.classify(job()); // occupies the worker while the rest queue
  const same = [p.classify(at("k")), p.classify(at("k")), p.classify(at("other"))];
  const broken = p.classify({ ...at("k"), image: new Uint8Array([1, 2, 3]) });
  broken.catch(() => {}); // it rejects before the others resolve; checked below
  const more = p.classify(at("k"));
  await first;
  const [a, b, other] = await Promise.all(same);
  await assert.rejects(broken, (e: Error) => e instanceof JobError && e.name === "ImageError");
  const c = await more;
  // "k" jobs (with the broken one) ran together; "other" ran alone after them.
  assert.deepEqual([a.batch, b.batch, c.batch, other.batch], [4, 4, 4, 1]);
  for (const r of [a, b, c]) {
    assert.deepEqual(r.tokens, alone.tokens);
    assert.deepEqual(r.top.map((t) => t.index), alone.top.map((t) => t.index));
    for (const [i, t] of r.top.entries()) assert.ok(Math.abs(t.score - alone.top[i].score) < 1e-4);
  }
  assert.equal(p.queueDepth + p.running, 0);
  await p.drain();
});

Deno.test("pool: warm starts sessions on every worker and on replacements; backlog carries services", async () => {
  const p = await pool({
    init: { model, backend: "wasm", threads: 1, warm: [] },
  });
  const first = await p.classify(job("pitome"));
  assert.equal(first.coldStart, true);
  // One session serves every method: warming one warms them all.
  await p.warm(["tome"]);
  // Two at once land on both workers: neither waits for a session.
  const both = await Promise.all([p.classify(job("tome")), p.classify(job("tome"))]);
  assert.deepEqual(both.map((r) => r.coldStart), [false, false]);
  p.injectFault(0, "crash");
  await p.classify(job()); // the first idle worker takes it, crashes and is replaced
  while (p.readyWorkers < 2) await new Promise((r) => setTimeout(r, 20));
  const after = await Promise.all([p.classify(job("tome")), p.classify(job("tome"))]);
  assert.deepEqual(after.map((r) => r.coldStart), [false, false]);
  // What a new job would queue behind: the running job with its predicted service time.
  const serviceMs = 5;
  const running = p.classify({ ...job(), serviceMs });
  const queued = [p.classify(job()), p.classify({ ...job(), serviceMs })];
  const backlog = p.backlog();
  assert.equal(backlog.running.length, 2);
  assert.deepEqual(backlog.running[0].serviceMs, serviceMs);
  assert.deepEqual(backlog.queued, [{ serviceMs }]);
  await Promise.all([running, ...queued]);
  assert.deepEqual(p.backlog(), { running: [], queued: [], workers: 2 });
  await p.drain();
});

Deno.test("pool: a job that waits is decoded meanwhile, and answers as if its worker had decoded it", async () => {
  const { preprocess } = await loadModelConfig(model);
  // A bigger, non-uniform picture, so a wrong input would change the answer.
  const photo = await new Image(96, 64).fill((x, y) => Image.rgbaToColor(x * 2, y * 3, 90, 255))
    .encode();
  const photoJob = { method: "tome", schedule: [2, 2, 2, 2], topK: 3, image: photo };
  const plain = await pool({ size: 1 });
  const reference = await plain.classify(photoJob);
  await plain.drain();
  assert.equal(reference.decodedAhead, false);

  // The hung job below holds the worker this long: time enough for the decode worker to start on
  // a cold machine (its module load and type check took over 3 s in a fresh clone's CI).
  const p = await pool({ size: 1, jobTimeoutMs: 10_000 });
  p.decodeAhead(preprocess);
  const idle = await p.classify(photoJob);
  assert.equal(idle.decodedAhead, false, "nothing waited: its worker decoded it");
  // One job waiting starts the decode worker, so its start-up (module load and check, seconds on
  // a loaded machine) does not fall inside the hung job's timeout below.
  await Promise.all([p.classify(job()), p.classify(job())]);
  // The worker hangs on the next job; the one behind it is decoded while it waits, then runs on
  // the replacement worker with that input.
  p.injectFault(0, "hang");
  const hung = p.classify(job());
  const behind = p.classify(photoJob);
  await assert.rejects(hung, JobTimeoutError);
  const r = await behind;
  assert.equal(r.decodedAhead, true);
  assert.ok(r.decodeMs > 0 && r.queueMs > 1000);
  assert.deepEqual(r.tokens, reference.tokens);
  assert.deepEqual(r.top.map((t) => t.index), reference.top.map((t) => t.index));
  for (const [i, t] of r.top.entries()) {
    assert.ok(Math.abs(t.score - reference.top[i].score) < 1e-5);
  }
  // A bad image waiting behind a busy worker still fails as a job error.
  const busy = p.classify(job());
  const broken = p.classify({ ...job(), image: new Uint8Array([0xff, 0xd8, 0xff, 0xd9]) });
  await busy;
  await assert.rejects(broken, (e: Error) => e instanceof JobError && e.name === "ImageError");
  await p.drain();
});

Deno.test("pool: when no worker can restart, waiting and new jobs are answered, not left to hang", async () => {
  const dir = await Deno.makeTempDir();
  for await (const e of Deno.readDir(model)) {
    await Deno.copyFile(join(model, e.name), join(dir, e.name));
  }
  const replaced: string[] = [];
  const p = await WorkerPool.start({
    size: 1,
    queueLimit: 8,
    jobTimeoutMs: 20_000,
    init: { model: dir, backend: "wasm", threads: 1, warm: ["none"] },
    onReplace: (why) => replaced.push(why),
  });
  await Deno.remove(dir, { recursive: true }); // the replacement will find no model
  p.injectFault(0, "crash");
  const jobs = [p.classify(job()), p.classify(job())];
  for (const j of jobs) await assert.rejects(j, /no inference worker is left/);
  assert.equal(replaced.length, 1);
  assert.ok(p.refusal() instanceof PoolUnavailableError);
  await assert.rejects(p.classify(job()), PoolUnavailableError);
  assert.equal(p.queueDepth + p.running, 0);
  await p.drain();
});
