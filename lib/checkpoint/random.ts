/**
 * Seeded random ViT weights in timm's layout: for tests, and for experiments that need a
 * grid-compatible second model (SAD-TM's cross-model prior).
 * @module
 */
import type { ViTConfig } from "./config.ts";
import type { Tensor } from "./safetensors.ts";

/** Seeded uniform random numbers in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` normal-ish values (sum of uniforms) times `scale`. */
export function randn(next: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (next() + next() + next() - 1.5) * 2 * scale;
  return out;
}

/** Random timm-named weights for `c`. */
export function randomWeights(c: ViTConfig, seed = 1): Map<string, Tensor> {
  const next = rng(seed);
  const d = c.embedDim, hidden = d * c.mlpRatio, p = c.patchSize;
  const n = (c.imgSize / p) ** 2 + c.prefixTokens;
  const w = new Map<string, Tensor>();
  const put = (name: string, dims: number[], scale = 0.3) =>
    w.set(name, { dims, data: randn(next, dims.reduce((a, b) => a * b, 1), scale) });
  const norm = (name: string) => {
    w.set(`${name}.weight`, { dims: [d], data: randn(next, d, 0.1).map((v) => 1 + v) });
    put(`${name}.bias`, [d], 0.1);
  };
  put("patch_embed.proj.weight", [d, 3, p, p], 0.05);
  put("patch_embed.proj.bias", [d]);
  put("cls_token", [1, 1, d]);
  put("pos_embed", [1, n, d]);
  for (let i = 0; i < c.depth; i++) {
    const b = `blocks.${i}`;
    norm(`${b}.norm1`);
    put(`${b}.attn.qkv.weight`, [3 * d, d]);
    put(`${b}.attn.qkv.bias`, [3 * d], 0.1);
    put(`${b}.attn.proj.weight`, [d, d]);
    put(`${b}.attn.proj.bias`, [d], 0.1);
    norm(`${b}.norm2`);
    put(`${b}.mlp.fc1.weight`, [hidden, d]);
    put(`${b}.mlp.fc1.bias`, [hidden], 0.1);
    put(`${b}.mlp.fc2.weight`, [d, hidden], 0.15);
    put(`${b}.mlp.fc2.bias`, [d], 0.1);
  }
  norm(c.globalPool === "avg" ? "fc_norm" : "norm");
  put("head.weight", [c.numClasses, d]);
  put("head.bias", [c.numClasses], 0.1);
  return w;
}
