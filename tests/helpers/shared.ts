/** Access to `../shared` (real weights and images); tests that need it skip when it is absent. */
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";

/** Absolute path of the shared folder beside the repository. */
export const SHARED = fileURLToPath(new URL("../../../shared", import.meta.url));
/** The pretrained DeiT-Tiny. */
export const DEIT_TINY = `${SHARED}/models/deit_tiny_patch16_224`;
/** True when the shared folder (model and data) is present. */
export const HAS_SHARED = existsSync(`${DEIT_TINY}/model.safetensors`);

if (!HAS_SHARED) {
  console.warn(`skipping tests that need ../shared: ${DEIT_TINY} not found`);
}

/** Reads `labels.csv` of an image folder as `[file, label]` rows. */
export async function readLabels(dir: string): Promise<[string, number][]> {
  const text = await Deno.readTextFile(`${dir}/labels.csv`);
  return text.trim().split("\n").slice(1).map((line) => {
    const [file, label] = line.split(",");
    return [file, Number(label)];
  });
}

/** Index of the largest value. */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** One of the 48 golden images of `reference/deit_tiny_dev48_logits.json`. */
export interface GoldenImage {
  file: string;
  label: number;
  top5: number[];
  logits: number[];
}

/** The golden DeiT-Tiny logits of the first 48 val-dev images. */
export async function goldenDev48(): Promise<GoldenImage[]> {
  const text = await Deno.readTextFile(`${SHARED}/reference/deit_tiny_dev48_logits.json`);
  return JSON.parse(text).images;
}

/** Bytes of an image of the val-dev set. */
export function devImage(file: string): Promise<Uint8Array> {
  return Deno.readFile(`${SHARED}/data/imagenet-val-dev/${file}`);
}
