/** Access to `../shared` (real weights and images); tests that need it skip when it is absent. */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";
import type { Classifier } from "../../lib/runtime/classifier.ts";

/** Absolute path of the shared folder beside the repository. */
export const SHARED = fileURLToPath(new URL("../../../shared", import.meta.url));
/** The pretrained DeiT-Tiny. */
export const DEIT_TINY = `${SHARED}/models/deit_tiny_patch16_224`;
/** The pretrained ViT-Tiny (timm `vit_tiny_patch16_224.augreg_in21k_ft_in1k`). */
export const VIT_TINY = `${SHARED}/models/vit_tiny_patch16_224`;

/** True when `dir` holds weights; warns once, naming what is missing, when it does not. */
export function hasModel(dir: string): boolean {
  const present = existsSync(`${dir}/model.safetensors`);
  if (!present) console.warn(`skipping tests that need ../shared: ${dir} not found`);
  return present;
}

/** True when the shared folder (DeiT-Tiny and data) is present. */
export const HAS_SHARED = hasModel(DEIT_TINY);

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

/** One of the 48 golden images of `reference/<model>_dev48_logits.json`. */
export interface GoldenImage {
  file: string;
  label: number;
  top5: number[];
  logits: number[];
}

/** The golden logits of the first 48 val-dev images (`deit_tiny` or `vit_tiny`). */
export async function goldenDev48(model: "deit_tiny" | "vit_tiny" = "deit_tiny"): Promise<
  GoldenImage[]
> {
  const text = await Deno.readTextFile(`${SHARED}/reference/${model}_dev48_logits.json`);
  return JSON.parse(text).images;
}

/**
 * Runs the 48 golden images through `c`'s own decode + preprocess + graph and asserts top-1
 * agrees on at least 47 and the mean abs logit diff is at most 0.05; returns both.
 */
export async function assertGoldenDev48(
  c: Classifier,
  golden: GoldenImage[],
): Promise<{ agree: number; meanAbs: number }> {
  let agree = 0, absSum = 0;
  for (const image of golden) {
    const [out] = await c.run([await c.prepare(await devImage(image.file))]);
    if (argmax(out.logits) === image.top5[0]) agree++;
    absSum += image.logits.reduce((a, v, i) => a + Math.abs(v - out.logits[i]), 0) /
      image.logits.length;
  }
  const meanAbs = absSum / golden.length;
  console.log(
    `top-1 agreement ${agree}/${golden.length}, mean abs logit diff ${meanAbs.toFixed(4)}`,
  );
  assert.equal(golden.length, 48);
  assert.ok(agree >= 47, `top-1 agreement ${agree}/48`);
  assert.ok(meanAbs <= 0.05, `mean abs logit diff ${meanAbs}`);
  return { agree, meanAbs };
}

/** Bytes of an image of the val-dev set. */
export function devImage(file: string): Promise<Uint8Array> {
  return Deno.readFile(`${SHARED}/data/imagenet-val-dev/${file}`);
}
