/**
 * `deno run -A bench/random_model.ts --arch NAME --out DIR [--seed N]`: writes a model directory
 * (timm hub layout) with seeded random weights of a known architecture. Used for SAD-TM's
 * cross-model prior ablation (a grid-compatible "other model").
 * @module
 */
import { join } from "node:path";
import { integerOption, parseCommand, runMain, UsageError } from "../lib/cli/args.ts";
import { ARCHITECTURES } from "../lib/checkpoint/config.ts";
import { randomWeights } from "../lib/checkpoint/random.ts";
import { writeSafetensors } from "../lib/checkpoint/safetensors.ts";

const USAGE = "usage: deno run -A bench/random_model.ts --arch NAME --out DIR [--seed N]";

async function main(args: string[]) {
  const { values } = parseCommand(args, {
    arch: { type: "string" },
    out: { type: "string" },
    seed: { type: "string" },
  }, `${USAGE}\n\nKnown architectures: ${Object.keys(ARCHITECTURES).join(", ")}`);
  const arch = values.arch && ARCHITECTURES[values.arch];
  if (!arch || !values.out) {
    throw new UsageError("--arch (a known architecture) and --out are required");
  }
  const seed = integerOption(values.seed, "seed", 0) ?? 1;
  await Deno.mkdir(values.out, { recursive: true });
  await Deno.writeFile(
    join(values.out, "model.safetensors"),
    writeSafetensors(randomWeights(arch.vit, seed)),
  );
  // A name of its own, so its prior is never mistaken for the pretrained model's.
  const v = arch.vit;
  await Deno.writeTextFile(
    join(values.out, "config.json"),
    JSON.stringify(
      {
        architecture: `${v.name}_random${seed}`,
        num_classes: v.numClasses,
        global_pool: v.globalPool,
        model_args: {
          patch_size: v.patchSize,
          embed_dim: v.embedDim,
          depth: v.depth,
          num_heads: v.numHeads,
          mlp_ratio: v.mlpRatio,
          img_size: v.imgSize,
        },
        pretrained_cfg: {
          input_size: [3, v.imgSize, v.imgSize],
          crop_pct: arch.preprocess.cropPct,
          mean: arch.preprocess.mean,
          std: arch.preprocess.std,
        },
      },
      null,
      1,
    ),
  );
  console.log(`${values.out}: ${arch.vit.name} with random weights (seed ${seed})`);
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
