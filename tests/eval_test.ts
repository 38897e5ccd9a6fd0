import assert from "node:assert/strict";
import { join } from "node:path";
import { Classifier } from "../lib/runtime/classifier.ts";
import { DatasetError, loadDataset, readLabelsCsv } from "../lib/eval/dataset.ts";
import { evaluate } from "../lib/eval/evaluate.ts";
import { klDivergence, pairedMetrics, topIndices } from "../lib/eval/metrics.ts";
import { tinyDataset, tinyModel, writeImageFolder } from "./helpers/fixtures.ts";

Deno.test("metrics: KL, top-k and paired metrics on hand-made logits", () => {
  assert.equal(klDivergence([1, 2, 3], [1, 2, 3]), 0);
  const p = [Math.log(0.5), Math.log(0.5)], q = [Math.log(0.9), Math.log(0.1)];
  assert.ok(
    Math.abs(klDivergence(p, q) - (0.5 * Math.log(0.5 / 0.9) + 0.5 * Math.log(0.5 / 0.1))) < 1e-12,
  );
  assert.deepEqual(topIndices([0.1, 5, 3, 9], 2), [3, 1]);
  const m = pairedMetrics([[0, 9, 1, 2, 3, 4], [9, 0, 1, 2, 3, 4]], [[0, 9, 1, 2, 3, 4], [
    0,
    9,
    1,
    2,
    3,
    4,
  ]], [1, 5]);
  assert.deepEqual({ ...m, kl: 0 }, { top1: 0.5, top5: 1, agreeTop1: 0.5, kl: 0, n: 2 });
  assert.ok(m.kl > 0);
});

Deno.test("datasets: labels.csv errors name the file and line", async () => {
  const dir = await Deno.makeTempDir();
  await assert.rejects(
    readLabelsCsv(dir),
    (e: Error) => e instanceof DatasetError && /labels\.csv not found/.test(e.message),
  );
  await Deno.writeTextFile(join(dir, "labels.csv"), "name,class\n");
  await assert.rejects(readLabelsCsv(dir), /first line must be "file,label"/);
  await Deno.writeTextFile(join(dir, "labels.csv"), "file,label\na.png,3\nb.png,x\n");
  await assert.rejects(readLabelsCsv(dir), /labels\.csv:3: expected "file,label", got "b\.png,x"/);
});

Deno.test("eval: every method x target on a tiny model, paired against the unmerged run", async () => {
  const { root, bundle } = await tinyModel();
  const images = await writeImageFolder(join(root, "images"), 6);
  const decoder = await Classifier.fromBundle(bundle, { backend: "wasm" });
  const data = await loadDataset(images, decoder, 5);
  assert.equal(data.inputs.length, 5);
  const rows = await evaluate(bundle, data, {
    backend: "wasm",
    methods: ["none", "tome", "pitome"],
    reductions: [0.2, 0.4],
    batch: 2,
    schedule: "constant",
    tau: 0,
  });
  assert.deepEqual(rows.map((r) => `${r.method}@${r.target_reduction}`), [
    "none@0",
    "tome@0.2",
    "tome@0.4",
    "pitome@0.2",
    "pitome@0.4",
  ]);
  assert.equal(rows[0].agree_top1, 1);
  assert.equal(rows[0].kl, 0);
  for (const r of rows.slice(1)) {
    assert.ok(Math.abs(r.reduction - r.target_reduction) < 0.03, `${r.method}: ${r.reduction}`);
    assert.ok(r.gmacs < rows[0].gmacs && r.kl >= 0 && r.n === 5);
  }
});

Deno.test("eval: sadtm-dm delays merging by the prior's suggested tau; --tau overrides it", async () => {
  const { root, bundle } = await tinyModel();
  const data = await tinyDataset(root, bundle, 3);
  const prior = {
    model: "tiny_test_vit",
    grid: [8, 8] as [number, number],
    patchSize: 4,
    vector: Array.from({ length: 64 }, (_, i) => Math.sin(i)),
    images: 1,
    imageListHash: "",
    classAttentionMse: [3, 2, 1],
    classAttentionRelativeMse: [3, 2, 1],
    suggestedTau: 2,
    labels: "ground_truth" as const,
  };
  const common = {
    backend: "wasm" as const,
    reductions: [0.2],
    batch: 3,
    schedule: "constant" as const,
    prior,
  };
  const [, dm, plain] = await evaluate(bundle, data, { ...common, methods: ["sadtm-dm", "sadtm"] });
  assert.deepEqual(dm.schedule.slice(0, 2), [0, 0]);
  assert.ok(dm.schedule[2] > 0 && plain.schedule[0] > 0);
  const [, overridden] = await evaluate(bundle, data, { ...common, methods: ["sadtm-dm"], tau: 1 });
  assert.equal(overridden.schedule[0], 0);
  assert.ok(overridden.schedule[1] > 0);
});

Deno.test("eval: adamerge calibrates theta per target and reports the per-image cost spread", async () => {
  const { root, bundle } = await tinyModel();
  const data = await tinyDataset(root, bundle, 8);
  const rows = await evaluate(bundle, data, {
    backend: "wasm",
    methods: ["adamerge"],
    reductions: [0.15, 0.3],
    batch: 4,
    schedule: "constant",
    calibrationImages: 8,
  });
  for (const r of rows.slice(1)) {
    assert.ok(typeof r.theta === "number" && Number.isFinite(r.theta));
    assert.ok(
      Math.abs(r.reduction - r.target_reduction) < 0.05,
      `${r.target_reduction}: ${r.reduction}`,
    );
    assert.ok(r.gmacs_p5 <= r.gmacs_p50 && r.gmacs_p50 <= r.gmacs_p95);
  }
  assert.ok(rows[2].theta! < rows[1].theta!, "a larger reduction needs a lower threshold");
});

async function cli(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    // Deno's own lines when its cache is cold (a new machine) are not the command's output.
    stderr: new TextDecoder().decode(out.stderr).replace(/^Download .*\n/gm, ""),
  };
}

Deno.test("cli: eval writes JSON rows and an SVG plot; classify prints JSON; bad input is one error line", async () => {
  const { root, dir: model } = await tinyModel();
  const images = await writeImageFolder(join(root, "images"), 4);
  const out = join(root, "rows.json"), plot = join(root, "plot.svg");
  const run = await cli([
    "lib/cli/eval.ts",
    "--model",
    model,
    "--images",
    images,
    "--methods",
    "none,evit",
    "--reductions",
    "0.3",
    "--out",
    out,
    "--plot",
    plot,
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /\| evit \| 30% \|/);
  const rows = JSON.parse(await Deno.readTextFile(out));
  assert.deepEqual(Object.keys(rows[1]).sort(), [
    "agree_top1",
    "gmacs",
    "gmacs_p5",
    "gmacs_p50",
    "gmacs_p95",
    "kl",
    "latency_ms_p50",
    "match_gmacs",
    "method",
    "n",
    "reduction",
    "schedule",
    "schedule_kind",
    "target_reduction",
    "top1",
    "top5",
  ]);
  assert.equal(rows[1].schedule_kind, "constant");
  assert.match(await Deno.readTextFile(plot), /^<svg/);

  const classify = await cli([
    "lib/cli/classify.ts",
    "--json",
    "--model",
    model,
    "--method",
    "tome",
    "--r",
    "4",
    join(images, "img0.png"),
  ]);
  assert.equal(classify.code, 0, classify.stderr);
  const result = JSON.parse(classify.stdout);
  assert.equal(result.top_k.length, 5);
  assert.deepEqual(result.tokens, [65, 61, 57, 53, 49]);
  assert.match(result.top_k[0].label, /^class \d$/);

  // An explicit schedule runs as given; one a block cannot merge is refused, saying which block.
  const scheduled = await cli([
    "lib/cli/classify.ts",
    "--json",
    "--model",
    model,
    "--method",
    "tome",
    "--schedule",
    "8,0,4,0",
    join(images, "img0.png"),
  ]);
  assert.equal(scheduled.code, 0, scheduled.stderr);
  assert.deepEqual(JSON.parse(scheduled.stdout).tokens, [65, 57, 57, 53, 53]);
  const tooMany = await cli([
    "lib/cli/classify.ts",
    "--model",
    model,
    "--method",
    "tome",
    "--schedule",
    "40,0,0,0",
    join(images, "img0.png"),
  ]);
  assert.equal(tooMany.code, 2);
  assert.match(tooMany.stderr, /block 0 can merge at most 32 of its 65 tokens/);

  for (
    const args of [["--methods", "none,magic"], ["--reductions", "2"], ["--schedule-kind", "weird"]]
  ) {
    const bad = await cli(["lib/cli/eval.ts", "--model", model, "--images", images, ...args]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /^error: /);
  }
  const help = await cli(["lib/cli/eval.ts", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /usage: deno task eval/);
});
