/**
 * `deno task priors --model DIR --images DIR [--limit N] [--out FILE] [--kv PATH]`
 * @module
 */
import { join } from "node:path";
import { readLabelsCsv } from "../eval/dataset.ts";
import { openKv } from "../kv/open.ts";
import { savePriorToKv, SHIPPED_PRIORS } from "../kv/priors.ts";
import { computePrior } from "../saliency/calibrate.ts";
import { checkPrior, type SaliencyPrior } from "../saliency/prior.ts";
import { defaultModelDir, loadModelBundle } from "../checkpoint/bundle.ts";
import { integerOption, parseCommand, runMain, UsageError } from "./args.ts";
import { progressBar } from "./progress.ts";

const USAGE = "usage: deno task priors --model DIR --images DIR [--limit N] [--out FILE] " +
  "[--kv PATH] [--own-labels] [--batch B]";
const HELP = `
${USAGE}

Computes the SAD-TM saliency outlier prior of a model over a calibration folder (labels.csv
with file,label), with the class-attention MSE curve and the suggested tau, and writes it to a
file and to Deno KV.

  --model DIR     model directory (default $EDGEMERGE_MODEL, then the hub cache)
  --images DIR    calibration images with labels.csv
  --limit N       first N images only
  --own-labels    use the model's own top-1 instead of the labels
  --out FILE      default priors/<model>.json
  --kv PATH       Deno KV path or URL (default $EDGEMERGE_KV, then the edgemerge cache)
  --batch B       images per run (default 8)
`;

async function main(args: string[]) {
  const { values } = parseCommand(args, {
    model: { type: "string" },
    images: { type: "string" },
    limit: { type: "string" },
    out: { type: "string" },
    kv: { type: "string" },
    "own-labels": { type: "boolean" },
    batch: { type: "string" },
  }, HELP);
  if (!values.images) throw new UsageError("--images DIR is required");
  const limit = integerOption(values.limit, "limit", 1) ?? Infinity;
  const batch = integerOption(values.batch, "batch", 1, 256);
  const bundle = await loadModelBundle(values.model ?? defaultModelDir());
  const { files, labels } = await readLabelsCsv(values.images);
  const n = Math.min(limit, files.length);
  const prior = await computePrior(bundle, {
    dir: values.images,
    files: files.slice(0, n),
    labels: values["own-labels"] ? Array(n).fill(-1) : labels.slice(0, n),
  }, { batch, onProgress: progressBar() });
  const out = values.out ?? join(SHIPPED_PRIORS, `${bundle.config.name}.json`);
  // Settings chosen by experiment on this model outlive a recomputed prior.
  const settings = await previousSettings(out);
  if (settings) prior.settings = settings;
  await Deno.writeTextFile(out, JSON.stringify(prior, null, 1) + "\n");
  const kv = await openKv(values.kv);
  await savePriorToKv(kv, prior);
  kv.close();
  console.log(`prior of ${prior.model} over ${prior.images} images -> ${out} and KV`);
  console.log(
    `class-attention MSE between adjacent blocks: ${
      prior.classAttentionMse.map((v) => v.toExponential(2)).join(" ")
    }`,
  );
  console.log(
    `relative MSE: ${prior.classAttentionRelativeMse.map((v) => v.toFixed(3)).join(" ")}`,
  );
  console.log(`suggested tau: ${prior.suggestedTau}`);
}

/** The `settings` of the prior file at `path`, if there is one. */
async function previousSettings(path: string): Promise<SaliencyPrior["settings"]> {
  try {
    return checkPrior(JSON.parse(await Deno.readTextFile(path)), path).settings;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
