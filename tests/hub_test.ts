import assert from "node:assert/strict";
import { join } from "node:path";
import { loadModelBundle } from "../lib/checkpoint/bundle.ts";
import {
  checkRepoName,
  DownloadError,
  etagSha256,
  pullModel,
  timmRepo,
} from "../lib/checkpoint/hub.ts";
import { tinyModel } from "./helpers/fixtures.ts";

interface Hub {
  url: string;
  ranges: string[];
  /** Cut the next response of this file after half its bytes. */
  cutNext: Set<string>;
  files: Map<string, Uint8Array>;
  /** How Range requests are answered: honoured, ignored (200, whole file), or from byte 0. */
  rangeMode: "honour" | "ignore" | "from-zero";
  /** `X-Linked-Etag` per file, as the hub sends for LFS files. */
  etags: Map<string, string>;
  close(): Promise<void>;
}

/** A local stand-in for the hub: `/<repo>/resolve/main/<file>` with Range support. */
function startHub(files: Map<string, Uint8Array>): Hub {
  const hub = {
    ranges: [] as string[],
    cutNext: new Set<string>(),
    files,
    rangeMode: "honour" as Hub["rangeMode"],
    etags: new Map<string, string>(),
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const match = new URL(req.url).pathname.match(/^\/timm\/tiny_test\/resolve\/main\/(.+)$/);
    const bytes = match && hub.files.get(match[1]);
    if (!bytes) return new Response("not found", { status: 404 });
    const asked = req.headers.get("range");
    if (asked) hub.ranges.push(`${match[1]} ${asked}`);
    const range = hub.rangeMode === "ignore" ? null : asked;
    const start = range && hub.rangeMode === "honour" ? Number(range.match(/bytes=(\d+)-/)![1]) : 0;
    const body = bytes.subarray(start);
    const headers: Record<string, string> = { "content-length": `${body.length}` };
    if (range) headers["content-range"] = `bytes ${start}-${bytes.length - 1}/${bytes.length}`;
    const etag = hub.etags.get(match[1]);
    if (etag) headers["x-linked-etag"] = etag;
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
  return Object.assign(hub, {
    url: `http://127.0.0.1:${server.addr.port}`,
    close: () => server.shutdown(),
  });
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

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as BufferSource);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("hub: a resume the server does not honour restarts from zero, never splices", async () => {
  const files = await tinyFiles();
  const weights = files.get("model.safetensors")!;
  for (const mode of ["ignore", "from-zero"] as const) {
    const hub = startHub(files);
    hub.rangeMode = mode;
    hub.etags.set("model.safetensors", `"${await sha256(weights)}"`);
    const cache = await Deno.makeTempDir();
    try {
      // A partial file of other bytes: appending the server's answer to it would corrupt the model.
      await Deno.mkdir(join(cache, "tiny_test"));
      await Deno.writeFile(join(cache, "tiny_test", "model.safetensors.part"), new Uint8Array(100));
      const dir = await pullModel("timm/tiny_test", { baseUrl: hub.url, cacheDir: cache });
      assert.deepEqual(hub.ranges, ["model.safetensors bytes=100-"], mode);
      assert.deepEqual(await Deno.readFile(join(dir, "model.safetensors")), weights, mode);
    } finally {
      await hub.close();
    }
  }
});

Deno.test("hub: a file whose sha256 differs from the hub's etag is refused and removed", async () => {
  const hub = startHub(await tinyFiles());
  hub.etags.set("model.safetensors", `"${"ab".repeat(32)}"`);
  const cache = await Deno.makeTempDir();
  try {
    await assert.rejects(
      pullModel("timm/tiny_test", { baseUrl: hub.url, cacheDir: cache }),
      (e: Error) =>
        e instanceof DownloadError &&
        new RegExp(`sha256 [0-9a-f]{64} differs from the hub's ${"ab".repeat(32)}`).test(e.message),
    );
    const left = [...Deno.readDirSync(join(cache, "tiny_test"))].map((e) => e.name);
    assert.deepEqual(left, ["config.json"]);
  } finally {
    await hub.close();
  }
  assert.equal(etagSha256(`W/"${"AB".repeat(32)}"`), "ab".repeat(32));
  assert.equal(etagSha256(`"${"a".repeat(40)}"`), undefined); // a git sha1: not checked
  assert.equal(etagSha256(null), undefined);
});

Deno.test("hub: unsafe repository names are refused before any file operation", async () => {
  const root = await Deno.makeTempDir();
  const cache = join(root, "cache");
  const sibling = join(root, "sibling");
  await Deno.mkdir(cache);
  await Deno.mkdir(sibling);
  await Deno.writeTextFile(join(sibling, "keep.txt"), "keep");
  // Would fail to download; before the check, the failure removed join(cache, "..") = root.
  for (const name of ["owner/..", "owner/.", "../x", "a/b/c", "owner/", "/name", "a\\b/c", ".."]) {
    await assert.rejects(
      pullModel(name, { baseUrl: "http://127.0.0.1:9", cacheDir: cache }),
      (e: Error) => e instanceof DownloadError && /invalid repository name/.test(e.message),
      name,
    );
  }
  await assert.rejects(
    pullModel("timm/tiny_test", { baseUrl: "http://127.0.0.1:9", cacheDir: cache, as: ".." }),
    /invalid cache folder name/,
  );
  assert.equal(await Deno.readTextFile(join(sibling, "keep.txt")), "keep");
  assert.deepEqual([...Deno.readDirSync(cache)], []);
  checkRepoName("timm/vit_base_patch16_224.augreg2_in21k_ft_in1k");
});
