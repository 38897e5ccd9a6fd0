import assert from "node:assert/strict";
import { Image } from "imagescript";
import { join } from "node:path";
import { createApp } from "../lib/serve/app.ts";
import { Engine } from "../lib/serve/engine.ts";
import { LocalInference } from "../lib/serve/inference.ts";
import { loadModelBundle } from "../lib/vit/bundle.ts";
import { writeTinyModel } from "./helpers/tiny_model_dir.ts";

const bundle = await loadModelBundle(await writeTinyModel(join(await Deno.makeTempDir(), "m")));
const engine = new Engine(bundle, { backend: "wasm" });
const app = createApp(new LocalInference(engine), bundle.config);
const png = await (() => {
  const img = new Image(48, 40);
  for (let y = 1; y <= 40; y++) {
    for (let x = 1; x <= 48; x++) img.setPixelAt(x, y, Image.rgbaToColor(x * 5, y * 6, 90, 255));
  }
  return img.encode();
})();

const post = async (query: string, body: Uint8Array, type = "image/png") =>
  await app.request(`/v1/classify${query}`, {
    method: "POST",
    body: body as Uint8Array<ArrayBuffer>,
    headers: { "content-type": type },
  });

Deno.test("serve: classify answers top-k, and merges with a method and reduction", async () => {
  const plain = await post("?top_k=3", png);
  assert.equal(plain.status, 200);
  const a = await plain.json();
  assert.equal(a.top_k.length, 3);
  assert.equal(a.method, "none");
  assert.deepEqual(a.tokens, [65, 65, 65, 65, 65]);
  assert.equal(a.reduction, 0);
  const merged = await (await post("?method=tome&reduction=0.3", png)).json();
  assert.equal(merged.method, "tome");
  assert.ok(merged.tokens.at(-1) < 65);
  assert.ok(Math.abs(merged.reduction - 0.3) < 0.03, `reduction ${merged.reduction}`);
});

Deno.test("serve: bad input is a 4xx JSON error naming the problem, and the server stays healthy", async () => {
  const cases: [Promise<Response>, number, RegExp][] = [
    [post("", png, "text/plain"), 415, /content-type must be/],
    [post("", new Uint8Array(0)), 400, /empty body/],
    [post("", new TextEncoder().encode("not an image at all")), 415, /not a JPEG or PNG/],
    [post("?method=magic", png), 400, /unknown method "magic"; known: none, tome/],
    [post("?top_k=0", png), 400, /top_k must be an integer in \[1, 10\]/],
    [post("?reduction=2", png), 400, /reduction must be a number in \[0, 0\.95\]/],
    [post("", png.subarray(0, 40)), 422, /cannot decode png/],
    [Promise.resolve(app.request("/nope")), 404, /no route GET \/nope/],
  ];
  for (const [response, status, pattern] of cases) {
    const r = await response;
    assert.equal(r.status, status);
    assert.match((await r.json()).error.message, pattern);
  }
  assert.equal((await app.request("/healthz")).status, 200);
  assert.equal((await post("", png)).status, 200);
});

Deno.test("serve: a method that cannot start (SAD-TM without a prior for this grid) is a clean 503", async () => {
  const r = await post("?method=sadtm", png);
  assert.equal(r.status, 503);
  assert.match((await r.json()).error.message, /no saliency prior for tiny_test_vit \(grid 8x8\)/);
  await engine.close();
});
