/**
 * Tiny random ViTs for tests, and a plain-TypeScript forward pass to check the ONNX graph by.
 */
import type { ViTConfig } from "../../lib/checkpoint/config.ts";
import type { Tensor } from "../../lib/checkpoint/safetensors.ts";
import { randn, rng } from "../../lib/checkpoint/random.ts";
export { randomWeights } from "../../lib/checkpoint/random.ts";

/** A small ViT config: 32x32 images, 8x8 patches (16 patches), width 16, 2 heads. */
export function tinyConfig(over: Partial<ViTConfig> = {}): ViTConfig {
  return {
    name: "tiny_test_vit",
    imgSize: 32,
    patchSize: 8,
    embedDim: 16,
    depth: 3,
    numHeads: 2,
    mlpRatio: 4,
    numClasses: 10,
    globalPool: "token",
    prefixTokens: 1,
    layerNormEps: 1e-6,
    propAttn: true,
    ...over,
  };
}

/** Random pixel values `[B,3,S,S]`. */
export function randomPixels(c: ViTConfig, batch: number, seed = 7): Float32Array {
  return randn(rng(seed), batch * 3 * c.imgSize * c.imgSize);
}

type Mat = Float64Array[];

function linear(x: Mat, w: Tensor, b: Tensor): Mat {
  const [out, inp] = w.dims;
  return x.map((row) => {
    const y = new Float64Array(out);
    for (let o = 0; o < out; o++) {
      let s = b.data[o];
      for (let i = 0; i < inp; i++) s += row[i] * w.data[o * inp + i];
      y[o] = s;
    }
    return y;
  });
}

function layerNorm(x: Mat, w: Tensor, b: Tensor, eps: number): Mat {
  return x.map((row) => {
    const mean = row.reduce((a, v) => a + v, 0) / row.length;
    const v = row.reduce((a, x) => a + (x - mean) ** 2, 0) / row.length;
    return row.map((x, i) => ((x - mean) / Math.sqrt(v + eps)) * w.data[i] + b.data[i]);
  });
}

function erf(x: number): number {
  // Abramowitz-Stegun 7.1.26 is too coarse for 1e-4 checks; use a series/continued fraction.
  const t = Math.abs(x);
  if (t < 3) {
    let sum = t, term = t;
    for (let n = 1; n < 80; n++) {
      term *= (-t * t) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  return Math.sign(x);
}

/** Per-block hooks the reference exposes so merge tests can reuse it. */
export interface ReferenceHooks {
  /** Called after the attention residual; may return new tokens and sizes. */
  afterAttention?: (
    block: number,
    x: Mat,
    size: number[],
    keys: Mat,
    attn: Mat[],
  ) => { x: Mat; size: number[] } | undefined;
}

/** Plain float64 ViT forward for one image (`[3,S,S]`); returns logits and tokens per block. */
export function referenceForward(
  c: ViTConfig,
  w: Map<string, Tensor>,
  pixels: Float32Array,
  hooks: ReferenceHooks = {},
): { logits: Float64Array; tokens: number[] } {
  const W = (k: string) => w.get(k)!;
  const d = c.embedDim, p = c.patchSize, g = c.imgSize / p, s = c.imgSize;
  const h = c.numHeads, hd = d / h;
  const conv = W("patch_embed.proj.weight"), convB = W("patch_embed.proj.bias");
  let x: Mat = [Float64Array.from(W("cls_token").data)];
  for (let py = 0; py < g; py++) {
    for (let px = 0; px < g; px++) {
      const t = new Float64Array(d);
      for (let o = 0; o < d; o++) {
        let acc = convB.data[o];
        for (let ch = 0; ch < 3; ch++) {
          for (let ky = 0; ky < p; ky++) {
            for (let kx = 0; kx < p; kx++) {
              acc += conv.data[((o * 3 + ch) * p + ky) * p + kx] *
                pixels[(ch * s + py * p + ky) * s + px * p + kx];
            }
          }
        }
        t[o] = acc;
      }
      x.push(t);
    }
  }
  const pos = W("pos_embed").data;
  x = x.map((row, i) => row.map((v, j) => v + pos[i * d + j]));
  let size = x.map(() => 1);
  const tokens: number[] = [];
  for (let b = 0; b < c.depth; b++) {
    tokens.push(x.length);
    const pre = `blocks.${b}`;
    const y = layerNorm(x, W(`${pre}.norm1.weight`), W(`${pre}.norm1.bias`), c.layerNormEps);
    const qkv = linear(y, W(`${pre}.attn.qkv.weight`), W(`${pre}.attn.qkv.bias`));
    const n = x.length;
    const attnOut: Mat = x.map(() => new Float64Array(d));
    const attns: Mat[] = [];
    const keys: Mat = x.map(() => new Float64Array(hd));
    for (let head = 0; head < h; head++) {
      const q = (i: number, j: number) => qkv[i][head * hd + j];
      const k = (i: number, j: number) => qkv[i][d + head * hd + j];
      const v = (i: number, j: number) => qkv[i][2 * d + head * hd + j];
      const a: Mat = [];
      for (let i = 0; i < n; i++) {
        const logits = new Float64Array(n);
        for (let j = 0; j < n; j++) {
          let dot = 0;
          for (let t = 0; t < hd; t++) dot += q(i, t) * k(j, t);
          logits[j] = dot / Math.sqrt(hd) + (c.propAttn ? Math.log(size[j]) : 0);
        }
        const m = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - m));
        const z = e.reduce((u, v) => u + v, 0);
        a.push(e.map((v) => v / z));
        for (let t = 0; t < hd; t++) {
          let acc = 0;
          for (let j = 0; j < n; j++) acc += a[i][j] * v(j, t);
          attnOut[i][head * hd + t] = acc;
        }
      }
      attns.push(a);
      for (let i = 0; i < n; i++) for (let t = 0; t < hd; t++) keys[i][t] += k(i, t) / h;
    }
    const proj = linear(attnOut, W(`${pre}.attn.proj.weight`), W(`${pre}.attn.proj.bias`));
    x = x.map((row, i) => row.map((v, j) => v + proj[i][j]));
    const merged = hooks.afterAttention?.(b, x, size, keys, attns);
    if (merged) ({ x, size } = merged);
    const z = layerNorm(x, W(`${pre}.norm2.weight`), W(`${pre}.norm2.bias`), c.layerNormEps);
    const hid = linear(z, W(`${pre}.mlp.fc1.weight`), W(`${pre}.mlp.fc1.bias`))
      .map((row) => row.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2))));
    const out = linear(hid, W(`${pre}.mlp.fc2.weight`), W(`${pre}.mlp.fc2.bias`));
    x = x.map((row, i) => row.map((v, j) => v + out[i][j]));
  }
  tokens.push(x.length);
  let pooled: Mat;
  if (c.globalPool === "token") {
    pooled = layerNorm([x[0]], W("norm.weight"), W("norm.bias"), c.layerNormEps);
  } else {
    const mean = new Float64Array(d);
    let total = 0;
    for (let i = c.prefixTokens; i < x.length; i++) {
      total += size[i];
      for (let j = 0; j < d; j++) mean[j] += x[i][j] * size[i];
    }
    pooled = layerNorm(
      [mean.map((v) => v / total)],
      W("fc_norm.weight"),
      W("fc_norm.bias"),
      c.layerNormEps,
    );
  }
  return { logits: linear(pooled, W("head.weight"), W("head.bias"))[0], tokens };
}

/** Largest absolute difference between two arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
