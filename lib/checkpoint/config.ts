/**
 * ViT architectures edgemerge knows, and how a timm hub `config.json` maps onto them.
 * @module
 */
import { UserError } from "../errors.ts";
import type { PreprocessConfig } from "../image/preprocess.ts";

/** Shape and head of a ViT classifier. */
export interface ViTConfig {
  /** timm architecture name, e.g. `deit_tiny_patch16_224`. */
  name: string;
  imgSize: number;
  patchSize: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  mlpRatio: number;
  numClasses: number;
  /** `token`: class token -> norm -> head; `avg`: mean of patch tokens -> fc_norm -> head (MAE). */
  globalPool: "token" | "avg";
  /** Tokens before the patches (class token) that never merge. */
  prefixTokens: number;
  layerNormEps: number;
  /** Proportional attention (`log size` on the logits) when merging: on for DeiT/ViT, off for MAE. */
  propAttn: boolean;
}

const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];
const HALF: [number, number, number] = [0.5, 0.5, 0.5];

interface Architecture {
  vit: ViTConfig;
  preprocess: PreprocessConfig;
}

function arch(
  name: string,
  shape: { patch: number; dim: number; depth: number; heads: number },
  kind: "deit" | "vit" | "mae",
): Architecture {
  return {
    vit: {
      name,
      imgSize: 224,
      patchSize: shape.patch,
      embedDim: shape.dim,
      depth: shape.depth,
      numHeads: shape.heads,
      mlpRatio: 4,
      numClasses: 1000,
      globalPool: kind === "mae" ? "avg" : "token",
      prefixTokens: 1,
      layerNormEps: 1e-6,
      propAttn: kind !== "mae",
    },
    preprocess: {
      inputSize: 224,
      cropPct: kind === "vit" ? 0.9 : 0.875,
      mean: kind === "vit" ? HALF : IMAGENET_MEAN,
      std: kind === "vit" ? HALF : IMAGENET_STD,
    },
  };
}

/** Built-in architectures, by timm name (MAE-finetuned models carry a `_mae` suffix). */
export const ARCHITECTURES: Readonly<Record<string, Architecture>> = Object.fromEntries(
  [
    arch("deit_tiny_patch16_224", { patch: 16, dim: 192, depth: 12, heads: 3 }, "deit"),
    arch("deit_small_patch16_224", { patch: 16, dim: 384, depth: 12, heads: 6 }, "deit"),
    arch("deit_base_patch16_224", { patch: 16, dim: 768, depth: 12, heads: 12 }, "deit"),
    arch("vit_tiny_patch16_224", { patch: 16, dim: 192, depth: 12, heads: 3 }, "vit"),
    arch("vit_base_patch16_224", { patch: 16, dim: 768, depth: 12, heads: 12 }, "vit"),
    arch("vit_base_patch16_224_mae", { patch: 16, dim: 768, depth: 12, heads: 12 }, "mae"),
    arch("vit_large_patch16_224_mae", { patch: 16, dim: 1024, depth: 24, heads: 16 }, "mae"),
    arch("vit_huge_patch14_224_mae", { patch: 14, dim: 1280, depth: 32, heads: 16 }, "mae"),
  ].map((a) => [a.vit.name, a]),
);

/** A run resolution the model cannot take; the message says which it can. */
export class ResolutionError extends UserError {
  override name = "ResolutionError";
}

/** Fewest patches per side a lower-resolution run keeps. */
const MIN_SIDE = 4;

/**
 * `c` run on a `resolution`-pixel image (a multiple of the patch size, from 4 patches per side up
 * to the model's own): the same weights on fewer patches, the image and the position embedding
 * resampled in the graph. Token counts, GMACs and schedules of such a run come from this config;
 * the graph is built from `c`. Throws `ResolutionError`.
 *
 * @example
 * ```ts
 * tokenCount(atResolution(deitTiny, 160)); // 101: 10 x 10 patches and the class token
 * ```
 */
export function atResolution(c: ViTConfig, resolution: number): ViTConfig {
  if (resolution === c.imgSize) return c;
  const p = c.patchSize;
  if (
    !Number.isInteger(resolution) || resolution % p !== 0 || resolution < MIN_SIDE * p ||
    resolution > c.imgSize
  ) {
    throw new ResolutionError(
      `resolution ${resolution}: ${c.name} runs at multiples of ${p} from ${MIN_SIDE * p} to ` +
        `${c.imgSize} pixels`,
    );
  }
  return { ...c, imgSize: resolution };
}

/** The resolutions below its own that `c` can run at (`atResolution`), ascending. */
export function lowerResolutions(c: ViTConfig): number[] {
  const p = c.patchSize, sides = Math.floor(c.imgSize / p);
  return Array.from({ length: Math.max(0, sides - MIN_SIDE) }, (_, i) => (MIN_SIDE + i) * p)
    .filter((r) => r < c.imgSize);
}

/** Patch grid `[rows, cols]`. */
export function patchGrid(c: ViTConfig): [number, number] {
  const side = c.imgSize / c.patchSize;
  return [side, side];
}

/** Number of patch tokens. */
export function patchCount(c: ViTConfig): number {
  return (c.imgSize / c.patchSize) ** 2;
}

/** Tokens entering the first block (patches plus prefix tokens). */
export function tokenCount(c: ViTConfig): number {
  return patchCount(c) + c.prefixTokens;
}

/** A model directory's `config.json` is not usable; the message names the field. */
export class ConfigError extends UserError {
  override name = "ConfigError";
}

type Json = Record<string, unknown>;

function num(obj: Json, key: string, fallback: number): number {
  const v = obj[key];
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new ConfigError(`config.json: ${key} must be a number, got ${JSON.stringify(v)}`);
  }
  return v;
}

function triple(obj: Json, key: string, fallback: [number, number, number]) {
  const v = obj[key];
  if (v === undefined) return fallback;
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === "number")) {
    throw new ConfigError(`config.json: ${key} must be three numbers`);
  }
  return v as [number, number, number];
}

/** Refuses a `pretrained_cfg` string other than the one preprocessing implements. */
function only(obj: Json, key: string, supported: string): void {
  const v = obj[key];
  if (v !== undefined && v !== supported) {
    throw new ConfigError(
      `config.json: pretrained_cfg.${key} ${JSON.stringify(v)} is not supported (${supported})`,
    );
  }
}

/**
 * Reads a timm hub `config.json` (architecture, model_args, pretrained_cfg). Preprocessing comes
 * from `pretrained_cfg` (crop_pct, mean, std; interpolation must be bicubic and crop_mode center),
 * each missing value from the architecture's defaults.
 */
export function configFromTimm(json: Json): Architecture {
  const name = json.architecture;
  if (typeof name !== "string") throw new ConfigError("config.json: missing architecture");
  const base = ARCHITECTURES[name] ?? ARCHITECTURES[`${name}_mae`];
  const args = (json.model_args ?? {}) as Json;
  const pre = (json.pretrained_cfg ?? {}) as Json;
  if (!base && json.model_args === undefined) {
    throw new ConfigError(
      `config.json: unknown architecture ${name} and no model_args; known: ${
        Object.keys(ARCHITECTURES).join(", ")
      }`,
    );
  }
  const b = base ?? arch(name, { patch: 16, dim: 768, depth: 12, heads: 12 }, "deit");
  const globalPool = (json.global_pool ?? args.global_pool ?? b.vit.globalPool) as string;
  if (globalPool !== "token" && globalPool !== "avg") {
    throw new ConfigError(`config.json: global_pool ${globalPool} is not supported (token, avg)`);
  }
  const inputSize = Array.isArray(pre.input_size) ? Number(pre.input_size[2]) : undefined;
  const vit: ViTConfig = {
    ...b.vit,
    name,
    imgSize: num(args, "img_size", inputSize ?? b.vit.imgSize),
    patchSize: num(args, "patch_size", b.vit.patchSize),
    embedDim: num(args, "embed_dim", b.vit.embedDim),
    depth: num(args, "depth", b.vit.depth),
    numHeads: num(args, "num_heads", b.vit.numHeads),
    mlpRatio: num(args, "mlp_ratio", b.vit.mlpRatio),
    numClasses: num(json, "num_classes", b.vit.numClasses),
    globalPool,
    propAttn: globalPool === "token" ? b.vit.propAttn : false,
  };
  if (vit.embedDim % vit.numHeads !== 0) {
    throw new ConfigError(`config.json: embed_dim ${vit.embedDim} not divisible by num_heads`);
  }
  if (vit.imgSize % vit.patchSize !== 0) {
    throw new ConfigError(`config.json: img_size ${vit.imgSize} not divisible by patch_size`);
  }
  only(pre, "interpolation", "bicubic");
  only(pre, "crop_mode", "center");
  const preprocess: PreprocessConfig = {
    inputSize: inputSize ?? vit.imgSize,
    cropPct: num(pre, "crop_pct", b.preprocess.cropPct),
    mean: triple(pre, "mean", b.preprocess.mean),
    std: triple(pre, "std", b.preprocess.std),
  };
  return { vit, preprocess };
}
