// The real thing: Deno.serve + fetch on loopback, through the worker pool.
import assert from "node:assert/strict";
import { Image } from "imagescript";
import { createApp } from "../lib/serve/app.ts";
import { makeContext, servedModel } from "../lib/serve/context.ts";
import { loadModelConfig } from "../lib/checkpoint/bundle.ts";
import { WorkerPool } from "../workers/pool.ts";
import { tinyModel } from "./helpers/fixtures.ts";

Deno.test("server: classify over HTTP; a full queue is 429 with Retry-After; a killed worker is survived", async () => {
  const model = (await tinyModel()).dir;
  const pool = await WorkerPool.start({
    size: 1,
    queueLimit: 1,
    jobTimeoutMs: 20_000,
    init: { model, backend: "wasm", threads: 1, warm: ["none"] },
  });
  const { config } = await loadModelConfig(model);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    createApp(makeContext([servedModel(config, pool)])).fetch,
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  const image = await new Image(64, 48).fill(0x884422ff).encode();
  const classify = () =>
    fetch(`${url}/v1/classify?method=tome&reduction=0.2`, {
      method: "POST",
      body: image as Uint8Array<ArrayBuffer>,
      headers: { "content-type": "image/png" },
    });
  try {
    const ok = await classify();
    assert.equal(ok.status, 200);
    const body = await ok.json();
    assert.equal(body.top_k.length, 5);
    assert.ok(body.timings.queue_ms >= 0);

    // Six at once against one worker and a queue of one: some are turned away, none fail.
    const burst = await Promise.all(Array.from({ length: 6 }, classify));
    const statuses = burst.map((r) => r.status);
    assert.ok(statuses.includes(429), `statuses ${statuses}`);
    assert.ok(statuses.every((s) => s === 200 || s === 429));
    for (const r of burst) {
      if (r.status === 429) assert.ok(Number(r.headers.get("retry-after")) >= 1);
      await r.body?.cancel();
    }

    // The worker dies while handling the next request: the request is retried on its replacement.
    pool.injectFault(0, "crash");
    const survived = await classify();
    assert.equal(survived.status, 200);
    await survived.body?.cancel();
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
  } finally {
    await pool.drain();
    await server.shutdown();
  }
});
