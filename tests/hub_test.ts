import assert from "node:assert/strict";
import { join } from "node:path";
import { loadModelBundle } from "../lib/checkpoint/bundle.ts";
import { DownloadError, pullModel, timmRepo } from "../lib/checkpoint/hub.ts";
import { tinyModel } from "./helpers/fixtures.ts";

interface Hub {
  url: string;
  ranges: string[];
  /** Cut the next response of this file after half its bytes. */
  cutNext: Set<string>;
  files: Map<string, Uint8Array>;
  close(): Promise<void>;
}

/** A local stand-in for the hub: `/<repo>/resolve/main/<file>` with Range support. */
function startHub(files: Map<string, Uint8Array>): Hub {
  const hub = { ranges: [] as string[], cutNext: new Set<string>(), files };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const match = new URL(req.url).pathname.match(/^\/timm\/tiny_test\/resolve\/main\/(.+)$/);
    const bytes = match && hub.files.get(match[1]);
    if (!bytes) return new Response("not found", { status: 404 });
    const range = req.headers.get("range");
    if (range) hub.ranges.push(`${match[1]} ${range}`);
    const start = range ? Number(range.match(/bytes=(\d+)-/)![1]) : 0;
    const body = bytes.subarray(start);
    const headers: Record<string, string> = { "content-length": `${body.length}` };
    if (range) headers["content-range"] = `bytes ${start}-${bytes.length - 1}/${bytes.length}`;
    const cut = hub.cutNext.delete(match[1]);
    let sent = false;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue(cut ? body.subarray(0, body.length >> 1) : body);
          if (!cut) controller.close();
          return;
        }
        // Let the first half reach the client before the connection drops.
        await new Promise((resolve) => setTimeout(resolve, 100));
        controller.error(new Error("connection cut"));
      },
    });
    return new Response(stream, { status: range ? 206 : 200, headers });
  });
  return { ...hub, url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

async function tinyFiles(): Promise<Map<string, Uint8Array>> {
  const dir = (await tinyModel()).dir;
  return new Map([
    ["config.json", await Deno.readFile(join(dir, "config.json"))],
    ["model.safetensors", await Deno.readFile(join(dir, "model.safetensors"))],
  ]);
}

Deno.test("hub: timm repository names", () => {
  assert.equal(timmRepo("deit_tiny_patch16_224"), "timm/deit_tiny_patch16_224.fb_in1k");
  assert.equal(timmRepo("vit_tiny_patch16_224"), "timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k");
  assert.equal(
    timmRepo("timm/vit_small_patch16_224.augreg_in21k"),
    "timm/vit_small_patch16_224.augreg_in21k",
  );
  assert.equal(timmRepo("vit_base_patch16_224.mae"), "timm/vit_base_patch16_224.mae");
});

Deno.test("hub: pull downloads a loadable model; a cut download resumes with a Range request", async () => {
  const hub = startHub(await tinyFiles());
  const cache = await Deno.makeTempDir();
  try {
    hub.cutNext.add("model.safetensors");
    await assert.rejects(
      pullModel("timm/tiny_test", { baseUrl: hub.url, cacheDir: cache }),
      (e: Error) => e instanceof DownloadError && /run again to resume/.test(e.message),
    );
    const partSize = (await Deno.stat(join(cache, "tiny_test", "model.safetensors.part"))).size;
    assert.ok(partSize > 0);
    let progressed = 0;
    const dir = await pullModel("timm/tiny_test", {
      baseUrl: hub.url,
      cacheDir: cache,
      onProgress: (_f, done) => progressed = done,
    });
    assert.deepEqual(hub.ranges, [`model.safetensors bytes=${partSize}-`]);
    assert.equal(progressed, hub.files.get("model.safetensors")!.length);
    const bundle = await loadModelBundle(dir);
    assert.equal(bundle.config.name, "tiny_test_vit");
    // A second pull is a no-op (cached).
    await pullModel("timm/tiny_test", { baseUrl: hub.url, cacheDir: cache });
    assert.equal(hub.ranges.length, 1);
  } finally {
    await hub.close();
  }
});

Deno.test("hub: a missing repository and a corrupt file are clear errors; nothing bad stays cached", async () => {
  const files = await tinyFiles();
  const hub = startHub(files);
  const cache = await Deno.makeTempDir();
  try {
    await assert.rejects(
      pullModel("timm/nope", { baseUrl: hub.url, cacheDir: cache }),
      (e: Error) =>
        e instanceof DownloadError &&
        /\/timm\/nope\/resolve\/main\/config\.json: HTTP 404/.test(e.message),
    );
    files.set("model.safetensors", new Uint8Array(64).fill(7));
    await assert.rejects(
      pullModel("timm/tiny_test", { baseUrl: hub.url, cacheDir: cache }),
      /downloaded files are not usable/,
    );
    await assert.rejects(Deno.stat(join(cache, "tiny_test")), Deno.errors.NotFound);
  } finally {
    await hub.close();
  }
});
