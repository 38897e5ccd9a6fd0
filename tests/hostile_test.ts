// Hostile and careless clients against the real server (main.ts in its own process, one worker):
// every case is answered as documented, the server stays healthy after each, honest requests
// still succeed, and memory does not grow with the number of hostile requests.
import assert from "node:assert/strict";
import { Image } from "imagescript";
import { spawnServer } from "../bench/server.ts";
import { encodeBlankPng } from "./helpers/png.ts";
import { tinyModel } from "./helpers/fixtures.ts";

const { dir } = await tinyModel();
const port = 20_000 + Math.floor(Math.random() * 10_000);
const url = `http://127.0.0.1:${port}`;
const honest = await new Image(48, 40).fill(0x336699ff).encode();

/** A JPEG that is only markers: SOI, the given SOF frames (height, width), EOI. */
function jpegHeader(...frames: [number, number][]): Uint8Array {
  const bytes = [0xff, 0xd8];
  for (const [h, w] of frames) {
    bytes.push(0xff, 0xc0, 0, 11, 8, h >> 8, h & 255, w >> 8, w & 255, 1, 1, 0x11, 0);
  }
  bytes.push(0xff, 0xd9);
  return new Uint8Array(bytes);
}

/** A PNG whose first chunk is not IHDR (a tEXt chunk hides the real header behind it). */
function pngWithLateHeader(png: Uint8Array): Uint8Array {
  const text = new Uint8Array([0, 0, 0, 1, 0x74, 0x45, 0x58, 0x74, 0x41, 0, 0, 0, 0]);
  return new Uint8Array([...png.subarray(0, 8), ...text, ...png.subarray(8)]);
}

const post = (body: BodyInit, query = "", type = "image/png") =>
  fetch(`${url}/v1/classify${query}`, { method: "POST", body, headers: { "content-type": type } });

/** The server's resident memory, MB (Linux). */
async function rssMb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

/** A body that sends a few bytes and then nothing. */
function trickle(): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      c.enqueue(honest.subarray(0, 16));
    },
  });
}

/** An HTTP/1.1 request with a broken chunked body, over raw TCP; the status line's code. */
async function malformedChunked(): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const request = "POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n" +
    "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nZZZ\r\nnot a chunk\r\n";
  await conn.write(new TextEncoder().encode(request));
  const buf = new Uint8Array(4096);
  const n = await conn.read(buf).catch(() => null);
  conn.close();
  if (!n) return 0; // the runtime closed the connection
  return Number(new TextDecoder().decode(buf.subarray(0, n)).split(" ")[1]);
}

/** One round of every hostile case: [what, status (or statuses), error code]. */
async function hostileRound(): Promise<void> {
  const strip = await encodeBlankPng(1, 40_000);
  const bomb = await encodeBlankPng(20_000, 20_000);
  const cases: [string, () => Promise<Response>, number, string][] = [
    ["1x40000 PNG strip", () => post(strip as BodyInit), 422, "bad_aspect"],
    [
      "65535x1 JPEG strip",
      () => post(jpegHeader([1, 65535]) as BodyInit, "", "image/jpeg"),
      422,
      "bad_aspect",
    ],
    ["PNG bomb 20000x20000", () => post(bomb as BodyInit), 413, "too_large"],
    [
      "JPEG with two frame headers",
      () => post(jpegHeader([40, 40], [6000, 6000]) as BodyInit, "", "image/jpeg"),
      422,
      "corrupt",
    ],
    [
      "JPEG header claiming 6324x6324, no data",
      () => post(jpegHeader([6324, 6324]) as BodyInit, "", "image/jpeg"),
      422,
      "corrupt",
    ],
    [
      "PNG whose first chunk is not IHDR",
      () => post(pngWithLateHeader(honest) as BodyInit),
      422,
      "corrupt",
    ],
    ["11 MB body", () => post(new Uint8Array(11 * 1024 * 1024) as BodyInit), 413, "body_too_large"],
    ["budget_ms=0x10", () => post(honest as BodyInit, "?budget_ms=0x10"), 400, "bad_parameter"],
    ["budget_ms=1e3", () => post(honest as BodyInit, "?budget_ms=1e3"), 400, "bad_parameter"],
    ["budget_ms=' 50'", () => post(honest as BodyInit, "?budget_ms=%2050"), 400, "bad_parameter"],
    ["GET /v1/classify", () => fetch(`${url}/v1/classify`), 405, "method_not_allowed"],
    [
      "DELETE /v1/models",
      () => fetch(`${url}/v1/models`, { method: "DELETE" }),
      405,
      "method_not_allowed",
    ],
    [
      "explain with a budget",
      () =>
        fetch(`${url}/v1/explain?budget_ms=60000`, {
          method: "POST",
          body: honest as BodyInit,
          headers: { "content-type": "image/png" },
        }),
      200,
      "",
    ],
    [
      "trickled upload",
      () =>
        fetch(`${url}/v1/classify`, {
          method: "POST",
          body: trickle(),
          headers: { "content-type": "image/png" },
        }),
      408,
      "body_timeout",
    ],
  ];
  for (const [what, send, status, code] of cases) {
    const r = await send();
    const body = r.headers.get("content-type")?.includes("json")
      ? await r.json()
      : await r.body?.cancel();
    assert.equal(r.status, status, `${what}: ${JSON.stringify(body)}`);
    if (code) assert.equal(body.error.code, code, what);
    assert.equal((await fetch(`${url}/healthz`)).status, 200, `healthz after ${what}`);
  }
  // The runtime answers a broken chunked body 400 or closes the connection; never a 500.
  const chunked = await malformedChunked();
  assert.ok(chunked === 0 || chunked === 400, `malformed chunked: ${chunked}`);
  // A very long URL: 414 from the app, or a reset from Deno's header limit before it.
  const long = await fetch(`${url}/v1/models?x=${"a".repeat(100_000)}`).then(
    async (r) => (await r.body?.cancel(), r.status),
    () => 0,
  );
  assert.ok(long === 414 || long === 431 || long === 0, `long URL: ${long}`);
  // Concurrent big uploads next to honest requests: every honest one answered 200 or a 429
  // turned away before reading; the big ones refused as too large or too many.
  const big = Array.from({ length: 6 }, () => post(new Uint8Array(9 * 1024 * 1024) as BodyInit));
  const fair = Array.from({ length: 3 }, () => post(honest as BodyInit));
  for (const r of await Promise.all(big)) {
    assert.ok([415, 422, 429].includes(r.status), `big upload: ${r.status}`);
    await r.body?.cancel();
  }
  for (const r of await Promise.all(fair)) {
    assert.ok([200, 429].includes(r.status), `honest beside big uploads: ${r.status}`);
    await r.body?.cancel();
  }
}

Deno.test({
  name: "hostile: thin strips, lying headers, bombs, trickles, floods and odd numbers",
  // The server is a child process; its streams close when it is killed.
  sanitizeResources: false,
  async fn() {
    const server = spawnServer(dir, port, {
      EDGEMERGE_BACKEND: "wasm",
      EDGEMERGE_THREADS: "1",
      EDGEMERGE_BODY_TIMEOUT_MS: "1000",
      EDGEMERGE_MAX_UPLOADS: "4",
      EDGEMERGE_GRAPH_CACHE: "off",
    });
    try {
      const t0 = Date.now();
      while (Date.now() - t0 < 120_000) {
        const ready = await fetch(`${url}/readyz`).then(
          (r) => (r.body?.cancel(), r.ok),
          () => false,
        );
        if (ready) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const ok = await post(honest as BodyInit);
      assert.equal(ok.status, 200);
      await ok.body?.cancel();
      const before = await rssMb(server.pid);
      await hostileRound();
      const once = await rssMb(server.pid);
      await hostileRound();
      await hostileRound();
      const thrice = await rssMb(server.pid);
      console.log(
        `server RSS: ${before.toFixed(0)} MB before, ${once.toFixed(0)} MB after one round of ` +
          `hostile requests, ${thrice.toFixed(0)} MB after three`,
      );
      // Memory is bounded: two more rounds add little beyond what the first one allocated.
      assert.ok(thrice - once < 100, `RSS grew ${thrice - once} MB over two more rounds`);
      const still = await post(honest as BodyInit);
      assert.equal(still.status, 200);
      await still.body?.cancel();
    } finally {
      server.kill("SIGTERM");
      await server.status;
    }
  },
});
