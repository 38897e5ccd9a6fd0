import assert from "node:assert/strict";
import { join } from "node:path";
import type { PointsTable } from "../lib/budget/points.ts";
import { pointsFromKv, savePointsToKv } from "../lib/kv/points.ts";
import { checkKvUrl, KvUrlError } from "../lib/kv/open.ts";
import { kvLabel, loadServiceData, seedKv } from "../lib/kv/seed.ts";
import { missingPriorMessage, priorFromKv, priorsInDir, savePriorToKv } from "../lib/kv/priors.ts";
import { ARCHITECTURES } from "../lib/checkpoint/config.ts";
import { tinyConfig } from "./helpers/tiny_vit.ts";

const deit = ARCHITECTURES["deit_tiny_patch16_224"].vit;
/** A model of DeiT-Tiny's grid with no prior of its own shipped. */
const unprimed = ARCHITECTURES["deit_small_patch16_224"].vit;

/** What `fn` wrote with console.error, and its result. */
async function withErrors<T>(fn: () => Promise<T>): Promise<[T, string[]]> {
  const lines: string[] = [], original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    return [await fn(), lines];
  } finally {
    console.error = original;
  }
}

Deno.test("kv: the first start seeds KV from priors/; later starts keep what KV holds", async () => {
  const path = join(await Deno.makeTempDir(), "kv", "store.sqlite3");
  const first = await loadServiceData(deit, path);
  assert.equal(first.source, "kv file"); // never the path
  assert.equal(first.prior?.model, "deit_tiny_patch16_224");
  assert.match(first.table.source, /^eval top-1/);
  assert.ok(first.table.points.some((p) => p.method === "sadtm-dm"));
  assert.deepEqual(first.priors, ["deit_tiny_patch16_224", "vit_tiny_patch16_224"]);

  // An operator's own table in KV is not overwritten by the shipped one.
  const own: PointsTable = {
    ...first.table,
    source: "operator",
    points: first.table.points.slice(0, 2),
  };
  let kv = await Deno.openKv(path);
  await savePointsToKv(kv, own);
  kv.close();
  const second = await loadServiceData(deit, path);
  assert.equal(second.table.source, "operator");
  kv = await Deno.openKv(path);
  assert.equal((await pointsFromKv(kv, deit.name))?.points.length, 2);
  kv.close();
});

/** A shipped `priors/` in a temp dir: one table and one prior of `model`, `version` in each. */
async function shippedDir(model: string, version: string): Promise<[string, string]> {
  const priors = await Deno.makeTempDir(), points = join(priors, "points");
  await Deno.mkdir(points);
  const table: PointsTable = {
    model,
    source: version,
    points: [{ method: "none", schedule: [0, 0], gmacs: 1, reduction: 0, top1: 0.5, n: 10 }],
  };
  await Deno.writeTextFile(join(points, `${model}.json`), JSON.stringify(table));
  const shipped = (await priorsInDir()).find((p) => p.model === deit.name)!;
  await Deno.writeTextFile(
    join(priors, `${model}.json`),
    JSON.stringify({ ...shipped, model, imageListHash: version }),
  );
  return [priors, points];
}

Deno.test("kv: a newer shipped table or prior replaces its earlier copy, never what was written since", async () => {
  const kv = await Deno.openKv(":memory:");
  const model = "deit_tiny_patch16_224";
  const tableSource = async () => (await pointsFromKv(kv, model))?.source;
  const priorHash = async () => (await priorFromKv(kv, model))?.imageListHash;

  await seedKv(kv, ...await shippedDir(model, "v1"));
  assert.equal(await tableSource(), "v1");
  assert.equal(await priorHash(), "v1");
  const v2 = await shippedDir(model, "v2");
  await seedKv(kv, ...v2);
  assert.equal(await tableSource(), "v2");
  assert.equal(await priorHash(), "v2");

  // Written since the seed: kept over a newer shipped file.
  const table = (await pointsFromKv(kv, model))!;
  await savePointsToKv(kv, { ...table, source: "operator" });
  const prior = (await priorFromKv(kv, model))!;
  await savePriorToKv(kv, { ...prior, imageListHash: "own" });
  await seedKv(kv, ...await shippedDir(model, "v3"));
  assert.equal(await tableSource(), "operator");
  assert.equal(await priorHash(), "own");
  kv.close();

  // Entries of a version that recorded no seed: a table is an older seed, a prior may be the
  // priors command's.
  const old = await Deno.openKv(":memory:");
  await savePointsToKv(old, { ...table, source: "old seed" });
  await savePriorToKv(old, { ...prior, imageListHash: "own" });
  await seedKv(old, ...v2);
  assert.equal((await pointsFromKv(old, model))?.source, "v2");
  assert.equal((await priorFromKv(old, model))?.imageListHash, "own");
  old.close();
});

Deno.test("kv: a model without a table gets the default; unreachable KV falls back to files", async () => {
  const tiny = await loadServiceData(tinyConfig({ patchSize: 4, depth: 4 }), ":memory:");
  assert.equal(tiny.source, "kv :memory:");
  assert.equal(tiny.table.source, "default");
  assert.equal(tiny.prior, undefined);

  const file = join(await Deno.makeTempDir(), "not-a-dir");
  await Deno.writeTextFile(file, "");
  const fallback = await loadServiceData(deit, join(file, "kv.sqlite3"));
  assert.match(fallback.source, /^files \(KV unavailable: /);
  assert.equal(fallback.prior?.model, "deit_tiny_patch16_224");
  assert.match(fallback.table.source, /^eval top-1/);
});

Deno.test("kv: a model without a prior does not get DeiT-Tiny's (same grid); the start log says so", async () => {
  const path = join(await Deno.makeTempDir(), "kv.sqlite3");
  const [data, log] = await withErrors(() => loadServiceData(unprimed, path));
  assert.equal(data.prior, undefined);
  assert.ok(data.priors.includes("deit_tiny_patch16_224"));
  assert.equal(data.table.source, "default");
  assert.deepEqual(log, [
    `edgemerge: ${missingPriorMessage("deit_small_patch16_224", data.priors)}`,
  ]);
  const [own, quiet] = await withErrors(() => loadServiceData(deit, path));
  assert.equal(own.prior?.model, "deit_tiny_patch16_224");
  assert.deepEqual(quiet, []);
});

Deno.test("kv: an access token is never sent over plain http beyond this machine", () => {
  for (const url of ["http://kv.example.com/api", "HTTP://10.0.0.2:4512", "http://127.0.0.2"]) {
    assert.throws(
      () => checkKvUrl(url, true),
      (e: Error) => e instanceof KvUrlError && /over plain http to .*https:\/\//.test(e.message),
      url,
    );
  }
  for (const url of ["http://localhost:4512", "http://127.0.0.1:4512/", "http://[::1]:4512"]) {
    assert.match(checkKvUrl(url, true)!, /plain http: the access token is sent unencrypted/);
  }
  assert.equal(checkKvUrl("https://kv.example.com", true), undefined);
  assert.equal(checkKvUrl("http://kv.example.com", false), undefined); // no secret to leak
  assert.equal(checkKvUrl(":memory:", true), undefined);
  assert.equal(checkKvUrl("/tmp/kv.sqlite3", true), undefined);
});

Deno.test("kv: what /v1/models shows of a KV location names no path and no credentials", () => {
  assert.equal(
    kvLabel("https://user:secret@kv.example.com:4512/db?token=x"),
    "https://kv.example.com:4512",
  );
  assert.equal(kvLabel("/home/me/.cache/edgemerge/kv.sqlite3"), "file");
  assert.equal(kvLabel(":memory:"), ":memory:");
  assert.equal(kvLabel(undefined), "default");
});
