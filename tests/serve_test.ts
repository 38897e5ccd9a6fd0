// Every route and every error through `app.request`, on a tiny random model in-process.
import assert from "node:assert/strict";
import { Image } from "imagescript";
import { createApp } from "../lib/serve/app.ts";
import { Engine } from "../lib/runtime/engine.ts";
import { LocalInference } from "../lib/runtime/local.ts";
import { makeContext, servedModel } from "../lib/serve/context.ts";
import { encodeBlankPng } from "./helpers/png.ts";
import { tinyModel } from "./helpers/fixtures.ts";
import { loadModelBundle } from "../lib/checkpoint/bundle.ts";
import { defaultPoints } from "../lib/budget/points.ts";

const bundle = (await tinyModel()).bundle;
const engine = new Engine(bundle, { backend: "wasm", threads: 1 });
// Accuracy alone (no time price): the plans these tests expect must not depend on how fast they
// send requests.
const served = servedModel(bundle.config, new LocalInference(engine), undefined, { timePrice: 0 });
// Many requests at once below: more than the default upload cap, which has its own test.
const app = createApp(makeContext([served], { limits: { maxUploads: 64, bodyTimeoutMs: 10_000 } }));
const picture = () => {
  const img = new Image(48, 40);
  for (let y = 1; y <= 40; y++) {
    for (let x = 1; x <= 48; x++) img.setPixelAt(x, y, Image.rgbaToColor(x * 5, y * 6, 90, 255));
  }
  return img;
};
const png = await picture().encode();
const jpeg = await picture().encodeJPEG(90);

const post = async (
  query: string,
  body: BodyInit | Uint8Array,
  type: string | null = "image/png",
  path = "/v1/classify",
  headers: Record<string, string> = {},
) =>
  await app.request(`${path}${query}`, {
    method: "POST",
    body: body as BodyInit,
    headers: { ...(type && { "content-type": type }), ...headers },
  });

Deno.test("serve: readyz waits for the calibration; models lists the points and their latency", async () => {
  assert.equal((await app.request("/readyz")).status, 503);
  await served.budget.calibrate(2);
  assert.equal((await app.request("/readyz")).status, 200);
  const models = await (await app.request("/v1/models")).json();
  const m = models.models[0];
  assert.equal(m.name, "tiny_test_vit");
  assert.equal(m.backend, "wasm");
  assert.equal(m.config.tokens, 65);
  assert.equal(m.operating_points.source, "default");
  assert.equal(m.operating_points.points.length, 6);
  assert.ok(
    m.operating_points.points.every((p: { predicted_infer_ms: number }) =>
      p.predicted_infer_ms > 0
    ),
  );
  assert.equal((await app.request("/healthz")).status, 200);
});

Deno.test("serve: classify without a budget is unmerged; method and reduction fix the point", async () => {
  const plain = await post("?top_k=3", png);
  assert.equal(plain.status, 200);
  const a = await plain.json();
  assert.equal(a.top_k.length, 3);
  assert.equal(a.model, "tiny_test_vit");
  assert.equal(a.operating_point.method, "none");
  assert.deepEqual(a.operating_point.tokens, [65, 65, 65, 65, 65]);
  assert.equal(a.operating_point.reduction, 0);
  assert.equal(a.budget_ms, null);
  assert.equal(a.budget_met, null);
  assert.equal(a.backend, "wasm");
  for (const k of ["queue_ms", "decode_ms", "infer_ms", "total_ms", "predicted_ms"]) {
    assert.ok(a.timings[k] >= 0, `${k} ${a.timings[k]}`);
  }
  const merged = await (await post("?method=tome&reduction=0.3", jpeg, "image/jpeg")).json();
  assert.equal(merged.operating_point.method, "tome");
  assert.ok(merged.operating_point.tokens.at(-1) < 65);
  assert.ok(Math.abs(merged.operating_point.reduction - 0.3) < 0.03);
  assert.equal(merged.operating_point.resolution, 32);
  assert.equal(typeof merged.operating_point.expected_top1, "number");
  // A lower resolution: fewer patches from the start, the merges make up the rest.
  const low = await (await post("?method=tome&reduction=0.6&resolution=24", png)).json();
  assert.equal(low.operating_point.resolution, 24);
  assert.equal(low.operating_point.tokens[0], 37);
  // The table has no point at 24 pixels: its accuracy is unknown, not 0.
  assert.equal(low.operating_point.expected_top1, null);
  assert.ok(low.operating_point.tokens.at(-1) < 37);
  assert.ok(
    Math.abs(low.operating_point.reduction - 0.6) < 0.05,
    `${low.operating_point.reduction}`,
  );
  const explained = await post(
    "?method=tome&reduction=0.6&resolution=24",
    png,
    "image/png",
    "/v1/explain",
  );
  assert.equal(explained.status, 200);
  assert.equal((await Image.decode(new Uint8Array(await explained.arrayBuffer()))).height, 32);
});

Deno.test("serve: a budget picks the best point that fits; on_miss decides the rest", async () => {
  const generous = await (await post("?budget_ms=60000", png)).json();
  assert.equal(generous.operating_point.method, "none");
  assert.equal(generous.budget_ms, 60000);
  assert.equal(generous.budget_met, true);
  assert.ok(generous.timings.predicted_ms > 0);

  // Best effort runs the plan predicted fastest (on this tiny model, merging may not be).
  const impossible = await (await post("", png, "image/png", "/v1/classify", {
    "X-Latency-Budget-Ms": "1",
  })).json();
  assert.equal(impossible.budget_ms, 1, JSON.stringify(impossible));
  assert.equal(impossible.budget_met, false);
  assert.ok(Array.isArray(impossible.operating_point.planned_schedule));
  assert.equal(typeof impossible.operating_point.replans, "number");
  for (const k of ["read", "queue", "decode", "infer", "serialize", "total"]) {
    assert.ok(impossible.timings[`${k}_ms`] >= 0, k);
  }

  const refused = await post("?budget_ms=1&on_miss=reject", png);
  assert.equal(refused.status, 503);
  const body = await refused.json();
  assert.equal(body.error.code, "budget_unachievable");
  assert.ok(body.error.minimum_ms >= 1);
  assert.match(body.error.message, /minimum achievable now is about \d+ ms/);

  const restricted = await (await post("?budget_ms=60000&method=tome", png)).json();
  assert.equal(restricted.operating_point.method, "tome");
});

Deno.test("serve: multipart uploads use the field image", async () => {
  const form = new FormData();
  form.append("image", new Blob([png as BlobPart], { type: "image/png" }), "x.png");
  const ok = await post("?top_k=2", form, null);
  assert.equal(ok.status, 200);
  assert.equal((await ok.json()).top_k.length, 2);
  const other = new FormData();
  other.append("file", new Blob([png as BlobPart]), "x.png");
  const missing = await post("", other, null);
  assert.equal(missing.status, 400);
  assert.match((await missing.json()).error.message, /no file field "image"/);
});

Deno.test("serve: bad input is a 4xx JSON error naming the problem, and the server stays healthy", async () => {
  const huge = await encodeBlankPng(20000, 20000);
  const cases: [Promise<Response>, number, string, RegExp][] = [
    [post("", png, "text/plain"), 415, "unsupported_media_type", /content-type must be/],
    [post("", new Uint8Array(0)), 400, "empty", /empty body/],
    [post("", new TextEncoder().encode("not an image")), 415, "unsupported_format", /not a JPEG/],
    [
      post("", jpeg.subarray(0, jpeg.length >> 1), "image/jpeg"),
      422,
      "corrupt",
      /cannot decode jpeg/,
    ],
    [post("", png.subarray(0, 40)), 422, "corrupt", /cannot decode png/],
    [post("", huge), 413, "too_large", /20000x20000 image exceeds the 40000000-pixel limit/],
    [post("", new Uint8Array(10 * 1024 * 1024 + 1)), 413, "body_too_large", /exceeds 10485760/],
    [post("?method=magic", png), 400, "bad_method", /unknown method "magic"; known: none, tome/],
    [post("?top_k=0", png), 400, "bad_parameter", /top_k must be an integer in \[1, 1000\]/],
    [post("?reduction=2", png), 400, "bad_parameter", /reduction must be a number in \[0, 0\.95\]/],
    [post("?budget_ms=fast", png), 400, "bad_parameter", /budget_ms must be a number/],
    [post("?budget_ms=-5", png), 400, "bad_parameter", /budget_ms must be a number in \[1/],
    [post("?budget_ms=50&reduction=0.2", png), 400, "bad_parameter", /not both/],
    [post("?budget_ms=50&resolution=24", png), 400, "bad_parameter", /not both/],
    [post("?budget_ms=50&theta=0.5", png), 400, "bad_parameter", /budget_ms or theta, not both/],
    [
      post("?method=tome&theta=0.5", png),
      400,
      "bad_parameter",
      /theta is a threshold of the adaptive methods \(adamerge, sadtm-ada\), not of tome/,
    ],
    [post("?method=none&reduction=0.3", png), 400, "bad_parameter", /none merges nothing/],
    [
      post("?method=tome&resolution=30", png),
      400,
      "bad_parameter",
      /resolution 30: tiny_test_vit runs at multiples of 4 from 16 to 32 pixels/,
    ],
    [post("?on_miss=pray", png), 400, "bad_on_miss", /unknown on_miss "pray"/],
    [
      post("?model=resnet50", png),
      400,
      "bad_model",
      /unknown model "resnet50"; known: tiny_test_vit/,
    ],
    [
      post("?budget_ms=100&method=evit", png),
      400,
      "bad_method",
      /no operating point of method evit/,
    ],
    [
      post("?method=none", png, "image/png", "/v1/explain"),
      400,
      "bad_method",
      /explain needs a merge/,
    ],
    [
      post("?method=sadtm", png),
      503,
      "unavailable",
      /sadtm needs a saliency prior for tiny_test_vit \(grid 8x8\)/,
    ],
    [Promise.resolve(app.request("/nope")), 404, "not_found", /no route GET \/nope/],
    [
      post("?budgte_ms=50", png),
      400,
      "unknown_parameter",
      /unknown parameter "budgte_ms"; known: model, budget_ms, on_miss/,
    ],
    [
      post("?budget_ms=50&budget_ms=60", png),
      400,
      "bad_parameter",
      /budget_ms is given 2 times with different values \(50, 60\)/,
    ],
    [
      post("?budget_ms=50", png, "image/png", "/v1/classify", { "X-Latency-Budget-Ms": "70" }),
      400,
      "bad_parameter",
      /budget_ms is given 2 times with different values \(50, 70\)/,
    ],
  ];
  for (const [response, status, code, pattern] of cases) {
    const r = await response;
    const body = await r.json();
    assert.equal(r.status, status, JSON.stringify(body));
    assert.equal(body.error.code, code);
    assert.match(body.error.message, pattern);
  }
  assert.equal((await app.request("/healthz")).status, 200);
  assert.equal((await post("", png)).status, 200);
  // The same value twice is no conflict.
  const twice = await post("?top_k=2", png, "image/png", "/v1/classify", { "X-Top-K": "2" });
  assert.equal((await twice.json()).top_k.length, 2);
});

Deno.test("serve: explain draws the input and the groups after each stage as a PNG", async () => {
  const r = await post("?method=tome&reduction=0.4", png, "image/png", "/v1/explain");
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "image/png");
  assert.equal(r.headers.get("x-edgemerge-method"), "tome");
  const picture = await Image.decode(new Uint8Array(await r.arrayBuffer()));
  // The 32x32 crop and 2 stages (after block 3 and the last, 4) with 8-pixel gaps.
  assert.equal(picture.width, 3 * 32 + 2 * 8);
  assert.equal(picture.height, 32);
  // Groups are painted flat: the last stage has fewer distinct colours than the crop.
  const colours = (x0: number) => {
    const seen = new Set<number>();
    for (let y = 1; y <= 32; y++) {
      for (let x = x0 + 1; x <= x0 + 32; x++) seen.add(picture.getPixelAt(x, y));
    }
    return seen.size;
  };
  assert.ok(colours(2 * 40) < colours(0), `${colours(2 * 40)} vs ${colours(0)}`);
});

Deno.test("serve: metrics, openapi and the demo page", async () => {
  const metrics = await (await app.request("/metrics")).text();
  assert.match(metrics, /edgemerge_requests_total\{route="\/v1\/classify",status="200"\} \d+/);
  assert.match(metrics, /edgemerge_requests_total\{route="\/v1\/classify",status="400"\} \d+/);
  assert.match(
    metrics,
    /edgemerge_request_duration_seconds_bucket\{route="\/v1\/classify",le="\+Inf"\} \d+/,
  );
  assert.match(metrics, /edgemerge_budget_met_ratio 0\.\d+/);
  assert.match(metrics, /edgemerge_queue_depth 0/);
  assert.match(metrics, /edgemerge_tokens_merged_total [1-9]\d*/);
  const spec = await (await app.request("/openapi.json")).json();
  assert.equal(spec.openapi, "3.1.0");
  // Every field of a real answer is documented.
  const answer = await (await post("?method=tome&reduction=0.3", png)).json();
  const result = spec.components.schemas.Result.properties;
  for (const part of ["operating_point", "timings"]) {
    for (const key of Object.keys(answer[part])) {
      assert.ok(key in result[part].properties, `${part}.${key} is not in the OpenAPI schema`);
    }
  }
  for (const key of Object.keys(answer)) assert.ok(key in result, `${key} is not documented`);
  for (const [path, ops] of Object.entries(spec.paths as Record<string, object>)) {
    for (const method of Object.keys(ops)) {
      const r = await app.request(path, { method: method.toUpperCase() });
      assert.notEqual(r.status, 404, `${method} ${path}`);
      await r.body?.cancel();
    }
  }
  const page = await app.request("/");
  assert.match(page.headers.get("content-type")!, /text\/html/);
  assert.match(await page.text(), /<input id="file" type="file"/);
  await engine.close();
});

Deno.test("serve: an explicit schedule runs and explains the point a budgeted answer reports", async () => {
  const ran = await (await post("?budget_ms=1", png)).json();
  const schedule = ran.operating_point.schedule.join(",");
  const again =
    await (await post(`?method=${ran.operating_point.method}&schedule=${schedule}`, png))
      .json();
  assert.deepEqual(again.operating_point.schedule, ran.operating_point.schedule);
  assert.deepEqual(again.operating_point.tokens, ran.operating_point.tokens);
  const picture = await post(`?method=tome&schedule=${schedule}`, png, "image/png", "/v1/explain");
  assert.equal(picture.status, 200);
  assert.equal(picture.headers.get("x-edgemerge-schedule"), schedule);
  const cases: [string, RegExp][] = [
    ["?schedule=1,2", /schedule needs 4 values/],
    ["?schedule=1,x,0,0", /schedule must be an integer/],
    ["?schedule=1,1,1,1&budget_ms=50", /without budget_ms/],
    // What a block cannot merge is refused, not cut: the answer reports what ran.
    ["?schedule=40,0,0,0", /block 0 can merge at most 32 of its 65 tokens with tome, got 40/],
    ["?method=none&schedule=1,0,0,0", /block 0 can merge at most 0 .* method none, got 1/],
  ];
  for (const [query, message] of cases) {
    const r = await post(query, png);
    assert.equal(r.status, 400, query);
    const body = await r.json();
    assert.equal(body.error.parameter, "schedule");
    assert.match(body.error.message, message);
  }
});

Deno.test("serve: two models in one service, each with its own labels and points", async () => {
  const { root, dir } = await tinyModel(9);
  const configPath = `${dir}/config.json`;
  const json = JSON.parse(await Deno.readTextFile(configPath));
  json.architecture = "second_test_vit";
  for (const k of Object.keys(json.label_descriptions)) {
    json.label_descriptions[k] = `other ${json.label_descriptions[k]}`;
  }
  await Deno.writeTextFile(configPath, JSON.stringify(json));
  const second = await loadModelBundle(dir);
  const engine2 = new Engine(second, { backend: "wasm", threads: 1 });
  const table = {
    model: "second_test_vit",
    source: "test",
    points: defaultPoints(second.config).points.slice(0, 2),
  };
  const two = createApp(
    makeContext([served, servedModel(second.config, new LocalInference(engine2), table)]),
  );
  const ask = (query: string) =>
    two.request(`/v1/classify${query}`, {
      method: "POST",
      body: png as BodyInit,
      headers: { "content-type": "image/png" },
    });
  const first = await (await ask("?top_k=1")).json();
  assert.equal(first.model, "tiny_test_vit");
  assert.match(first.top_k[0].label, /^class \d$/);
  const other = await (await ask("?top_k=1&model=second_test_vit")).json();
  assert.equal(other.model, "second_test_vit");
  assert.match(other.top_k[0].label, /^other class \d$/);
  const listed = (await (await two.request("/v1/models")).json()).models;
  assert.deepEqual(listed.map((m: { name: string }) => m.name), [
    "tiny_test_vit",
    "second_test_vit",
  ]);
  assert.equal(listed[1].operating_points.points.length, 2);
  assert.equal(listed[1].operating_points.source, "test");
  const unknown = await ask("?model=resnet50");
  assert.equal(unknown.status, 400);
  const body = await unknown.json();
  assert.equal(body.error.parameter, "model");
  assert.match(body.error.message, /tiny_test_vit.*second_test_vit/);
  await engine2.close();
  await Deno.remove(root, { recursive: true });
});

Deno.test("serve: wrong methods get 405 with Allow; long URLs 414; explain takes a budget", async () => {
  const get = await app.request("/v1/classify");
  assert.equal(get.status, 405);
  assert.equal(get.headers.get("allow"), "POST");
  assert.equal((await get.json()).error.code, "method_not_allowed");
  const put = await app.request("/v1/models", { method: "PUT" });
  assert.equal(put.status, 405);
  assert.equal(put.headers.get("allow"), "GET, HEAD");
  assert.equal((await app.request("/nowhere")).status, 404);
  const long = await app.request(`/v1/models?x=${"a".repeat(10_000)}`);
  assert.equal(long.status, 414);
  assert.equal((await long.json()).error.code, "uri_too_long");
  const explained = await post("?budget_ms=60000", png, "image/png", "/v1/explain");
  assert.equal(explained.status, 200);
  assert.notEqual(explained.headers.get("x-edgemerge-method"), "none");
});

Deno.test("serve: a full queue or too many uploads answer 429 before the body is read", async () => {
  const full = new LocalInference(engine, { queueLimit: 0 });
  const busy = createApp(makeContext([servedModel(bundle.config, full)]));
  let pulled = false;
  const body = new ReadableStream({
    pull(c) {
      pulled = true;
      c.enqueue(png);
      c.close();
    },
  }, { highWaterMark: 0 });
  const r = await busy.request("/v1/classify", {
    method: "POST",
    body,
    headers: { "content-type": "image/png" },
  });
  assert.equal(r.status, 429);
  assert.ok(r.headers.get("retry-after"));
  assert.equal(pulled, false);
  const ctx = makeContext([served], { limits: { maxUploads: 1, bodyTimeoutMs: 200 } });
  const gated = createApp(ctx);
  // A trickled upload that never ends holds the only upload slot until it times out (408).
  const trickle = new ReadableStream({
    start(c) {
      c.enqueue(png.subarray(0, 10));
    },
  });
  const slow = gated.request("/v1/classify", {
    method: "POST",
    body: trickle,
    headers: { "content-type": "image/png" },
  });
  const second = await gated.request("/v1/classify", {
    method: "POST",
    body: png as BodyInit,
    headers: { "content-type": "image/png" },
  });
  assert.equal(second.status, 429);
  assert.equal((await second.json()).error.code, "too_many_uploads");
  const timedOut = await slow;
  assert.equal(timedOut.status, 408);
  assert.equal((await timedOut.json()).error.code, "body_timeout");
  assert.equal(ctx.uploads, 0);
  ctx.draining = true;
  assert.equal((await gated.request("/readyz")).status, 503);
});

Deno.test("serve: an answer teaches the timing model once it is sent, not before", async () => {
  const before = served.budget.timing.observations;
  const answered = await post("?method=tome&reduction=0.2", png);
  assert.equal(answered.status, 200);
  await answered.json();
  // The observation waits for the answer's turn of the event loop to end.
  assert.equal(served.budget.timing.observations, before);
  await new Promise((r) => setTimeout(r, 0));
  assert.ok(served.budget.timing.observations > before);
});
