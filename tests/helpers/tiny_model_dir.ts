/** A tiny random model in timm's hub layout, and a labelled image folder, in a temp dir. */
import { Image } from "imagescript";
import { join } from "node:path";
import { writeSafetensors } from "../../lib/vit/safetensors.ts";
import { randomWeights, tinyConfig } from "./tiny_vit.ts";

/** Writes `config.json` + `model.safetensors` of a tiny ViT (32x32, 4x4 patches). */
export async function writeTinyModel(dir: string, seed = 5): Promise<string> {
  const config = tinyConfig({ patchSize: 4, depth: 4 });
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(
    join(dir, "model.safetensors"),
    writeSafetensors(randomWeights(config, seed), "F16"),
  );
  await Deno.writeTextFile(
    join(dir, "config.json"),
    JSON.stringify({
      architecture: "tiny_test_vit",
      num_classes: 10,
      global_pool: "token",
      model_args: {
        patch_size: 4,
        embed_dim: 16,
        depth: 4,
        num_heads: 2,
        mlp_ratio: 4,
        img_size: 32,
      },
      pretrained_cfg: {
        input_size: [3, 32, 32],
        crop_pct: 0.875,
        mean: [0.5, 0.5, 0.5],
        std: [0.25, 0.25, 0.25],
      },
      label_names: Array.from({ length: 10 }, (_, i) => `c${i}`),
      label_descriptions: Object.fromEntries(
        Array.from({ length: 10 }, (_, i) => [`c${i}`, `class ${i}`]),
      ),
    }),
  );
  return dir;
}

/** Writes `n` random PNGs of varied sizes and a `labels.csv`. */
export async function writeImageFolder(dir: string, n: number): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const rows = ["file,label"];
  for (let i = 0; i < n; i++) {
    const img = new Image(40 + 3 * i, 36 + 5 * (i % 4));
    for (let y = 1; y <= img.height; y++) {
      for (let x = 1; x <= img.width; x++) {
        img.setPixelAt(
          x,
          y,
          Image.rgbaToColor((x * (i + 3)) % 256, (y * 11 + i * 40) % 256, (x * y) % 256, 255),
        );
      }
    }
    await Deno.writeFile(join(dir, `img${i}.png`), await img.encode());
    rows.push(`img${i}.png,${i % 10}`);
  }
  await Deno.writeTextFile(join(dir, "labels.csv"), rows.join("\n") + "\n");
  return dir;
}
