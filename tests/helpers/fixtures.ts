/**
 * The tests' tiny fixtures: a random model in timm's hub layout, a labelled image folder, both in
 * temp dirs, loaded or as paths; and a session of a tiny ViT graph.
 */
import { Image } from "imagescript";
import { join } from "node:path";
import {
  type BackendName,
  createSession,
  type Session,
  unavailable,
} from "../../lib/backend/session.ts";
import { loadModelBundle, type ModelBundle } from "../../lib/checkpoint/bundle.ts";
import type { ViTConfig } from "../../lib/checkpoint/config.ts";
import type { Tensor } from "../../lib/checkpoint/safetensors.ts";
import { writeSafetensors } from "../../lib/checkpoint/safetensors.ts";
import { type Dataset, loadDataset } from "../../lib/eval/dataset.ts";
import type { MergeMethod } from "../../lib/merge/step.ts";
import { Classifier } from "../../lib/runtime/classifier.ts";
import { buildViTGraph } from "../../lib/vit/graph.ts";
import { randomWeights, tinyConfig } from "./tiny_vit.ts";

/** The tiny ViT most tests use: 32x32 images in 4x4 patches (65 tokens), 4 blocks, random. */
export function tinyVit(seed = 3): { config: ViTConfig; weights: Map<string, Tensor> } {
  const config = tinyConfig({ patchSize: 4, depth: 4 });
  return { config, weights: randomWeights(config, seed) };
}

/**
 * The CPU backends every session test runs on: WASM, and native where the onnxruntime-node
 * binding loads (the tests say so when it does not).
 */
export const CPU_BACKENDS: BackendName[] = ["wasm"];
const nativeMissing = await unavailable("native");
if (nativeMissing) console.warn(`skipping native-backend cases: ${nativeMissing}`);
else CPU_BACKENDS.push("native");

/** The `resolution` feed of a merging graph that runs at the model's own resolution. */
export function ownResolution(config: ViTConfig) {
  return { resolution: { data: BigInt64Array.of(BigInt(config.imgSize)), dims: [1] } };
}

/** A session of the ViT graph of `config` and `weights`, with `method` built in. */
export function tinySession(
  config: ViTConfig,
  weights: Map<string, Tensor>,
  options: { method?: MergeMethod; backend?: BackendName; sources?: boolean } = {},
): Promise<Session> {
  const graph = buildViTGraph({ config, weights }, options.method, { sources: options.sources });
  return createSession(graph, { backend: options.backend ?? "wasm" });
}

/** A tiny model written to a fresh temp dir (`root/model`), and loaded. */
export async function tinyModel(
  seed = 5,
): Promise<{ root: string; dir: string; bundle: ModelBundle }> {
  const root = await Deno.makeTempDir();
  const dir = await writeTinyModel(join(root, "model"), seed);
  return { root, dir, bundle: await loadModelBundle(dir) };
}

/** `n` labelled images in `root/images`, decoded for `bundle`. */
export async function tinyDataset(root: string, bundle: ModelBundle, n: number): Promise<Dataset> {
  const decoder = await Classifier.fromBundle(bundle, { backend: "wasm" });
  const data = await loadDataset(await writeImageFolder(join(root, "images"), n), decoder);
  await decoder.release();
  return data;
}

/** Writes `config.json` + `model.safetensors` of a tiny ViT (32x32, 4x4 patches). */
export async function writeTinyModel(dir: string, seed = 5): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(
    join(dir, "model.safetensors"),
    writeSafetensors(tinyVit(seed).weights, "F16"),
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
