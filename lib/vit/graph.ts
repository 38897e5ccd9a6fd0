/**
 * The ViT forward pass as an ONNX graph, built from timm weights.
 *
 * Inputs: `pixel_values [B,3,H,W]` float32 and the merge schedule `r [L]` int64.
 * Outputs: `logits [B,C]`, `tokens [L+1]` (tokens entering each block, then leaving the last)
 * and, when a merge method is built in, `source_map [B,P]` (the final token of every patch) and
 * `sizes [B,N_final]` (patches per final token).
 *
 * Each block is `x + attn(norm1(x))`, then the merge step, then `x + mlp(norm2(x))`, so attention
 * sees `N` tokens and the MLP `N - r_l`.
 * @module
 */
import { UserError } from "../errors.ts";
import { type DType, float, GraphBuilder } from "../onnx/builder.ts";
import { dim, dims, filled, sliceAxis } from "../onnx/ops.ts";
import type { ViTConfig } from "../checkpoint/config.ts";
import { patchCount, tokenCount } from "../checkpoint/config.ts";
import type { Tensor } from "../checkpoint/safetensors.ts";
import { applyPlan } from "../merge/apply.ts";
import type { MergeMethod, TokenState } from "../merge/step.ts";

/** Bumped whenever the emitted graph changes, so cached models are rebuilt. */
export const GRAPH_VERSION = 3;

/** A weight the config needs is missing or has the wrong shape. */
export class WeightError extends UserError {
  override name = "WeightError";
}

/** What `buildViTGraph` needs: a config and float32 weights by timm name. */
export interface ViTWeights {
  config: ViTConfig;
  weights: Map<string, Tensor>;
}

class ViTBuilder {
  constructor(
    readonly config: ViTConfig,
    readonly weights: Map<string, Tensor>,
    readonly g: GraphBuilder,
  ) {}

  weight(name: string, dims: number[]): Tensor {
    const t = this.weights.get(name);
    if (!t) throw new WeightError(`missing weight ${name}`);
    if (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) {
      throw new WeightError(`weight ${name} has shape [${t.dims}], expected [${dims}]`);
    }
    return t;
  }

  param(name: string, dims: number[], data?: Float32Array): string {
    return this.g.initializer(name, {
      dtype: "float32",
      dims,
      data: data ?? this.weight(name, dims).data,
    });
  }

  /** `x @ W^T + b` for a timm Linear `[out, in]`; `scaleRows` scales the first outputs. */
  linear(x: string, prefix: string, inDim: number, outDim: number, scaleRows = 0, scale = 1) {
    const w = this.weight(`${prefix}.weight`, [outDim, inDim]).data;
    const b = Float32Array.from(this.weight(`${prefix}.bias`, [outDim]).data);
    const wt = new Float32Array(inDim * outDim);
    for (let o = 0; o < outDim; o++) {
      const s = o < scaleRows ? scale : 1;
      for (let i = 0; i < inDim; i++) wt[i * outDim + o] = w[o * inDim + i] * s;
      b[o] *= s;
    }
    const g = this.g;
    const y = g.op("MatMul", [x, this.param(`${prefix}.weight_t`, [inDim, outDim], wt)]);
    return g.op("Add", [y, this.param(`${prefix}.bias`, [outDim], b)]);
  }

  layerNorm(x: string, prefix: string): string {
    const d = this.config.embedDim;
    return this.g.op(
      "LayerNormalization",
      [x, this.param(`${prefix}.weight`, [d]), this.param(`${prefix}.bias`, [d])],
      { axis: -1, epsilon: float(this.config.layerNormEps) },
    );
  }

  /** Exact (erf) GELU in the pattern ORT fuses into one kernel. */
  gelu(x: string): string {
    const g = this.g;
    const erf = g.op("Erf", [g.op("Div", [x, g.constFloat(Math.SQRT2)])]);
    return g.op("Mul", [g.op("Mul", [x, g.op("Add", [erf, g.constFloat(1)])]), g.constFloat(0.5)]);
  }

  embed(pixels: string): string {
    const { embedDim: d, patchSize: p, prefixTokens } = this.config;
    const g = this.g;
    const conv = g.op("Conv", [
      pixels,
      this.param("patch_embed.proj.weight", [d, 3, p, p]),
      this.param("patch_embed.proj.bias", [d]),
    ], { kernel_shape: [p, p], strides: [p, p] });
    const patches = g.op("Transpose", [g.op("Reshape", [conv, g.constInt([0, d, -1])])], {
      perm: [0, 2, 1],
    });
    const batch = dim(g, pixels, 0);
    const cls = g.op("Expand", [
      this.param("cls_token", [1, 1, d]),
      g.op("Concat", [batch, g.constInt([1, d])], { axis: 0 }),
    ]);
    if (prefixTokens !== 1) throw new WeightError("only one prefix (class) token is supported");
    const tokens = g.op("Concat", [cls, patches], { axis: 1 });
    return g.op("Add", [tokens, this.param("pos_embed", [1, tokenCount(this.config), d])]);
  }

  /** Multi-head self-attention; returns the residual branch, keys and attention. */
  attention(x: string, i: number, size: string | undefined) {
    const { embedDim: d, numHeads: h } = this.config;
    const hd = d / h;
    const g = this.g;
    const pre = `blocks.${i}.attn`;
    const qkv = this.linear(x, `${pre}.qkv`, d, 3 * d, d, hd ** -0.5);
    const heads = g.op("Transpose", [g.op("Reshape", [qkv, g.constInt([0, 0, 3, h, hd])])], {
      perm: [2, 0, 3, 1, 4],
    });
    const [q, k, v] = [0, 1, 2].map((j) => g.op("Gather", [heads, g.constInt(j)], { axis: 0 }));
    let logits = g.op("MatMul", [q, g.op("Transpose", [k], { perm: [0, 1, 3, 2] })]);
    if (size && this.config.propAttn) {
      const logSize = g.op("Unsqueeze", [g.op("Log", [size]), g.constInt([1, 2])]);
      logits = g.op("Add", [logits, logSize]);
    }
    const attn = g.op("Softmax", [logits], { axis: -1 });
    const out = g.op("Reshape", [
      g.op("Transpose", [g.op("MatMul", [attn, v])], { perm: [0, 2, 1, 3] }),
      g.constInt([0, 0, d]),
    ]);
    return { out: this.linear(out, `${pre}.proj`, d, d), keys: k, attn };
  }

  mlp(x: string, i: number): string {
    const d = this.config.embedDim;
    const hidden = Math.round(d * this.config.mlpRatio);
    const h = this.gelu(this.linear(x, `blocks.${i}.mlp.fc1`, d, hidden));
    return this.linear(h, `blocks.${i}.mlp.fc2`, hidden, d);
  }

  head(x: string, size: string | undefined): string {
    const { embedDim: d, numClasses: c, prefixTokens } = this.config;
    const g = this.g;
    let pooled: string;
    if (this.config.globalPool === "token") {
      pooled = this.layerNorm(g.op("Gather", [x, g.constInt(0)], { axis: 1 }), "norm");
    } else {
      const patches = sliceAxis(g, x, 1, prefixTokens);
      let mean: string;
      if (size) {
        // Size-weighted: a merged token stands for `size` patches.
        const s = sliceAxis(g, size, 1, prefixTokens);
        const sum = g.op("ReduceSum", [
          g.op("Mul", [patches, g.op("Unsqueeze", [s, g.constInt([2])])]),
          g.constInt([1]),
        ], { keepdims: 0 });
        mean = g.op("Div", [sum, g.op("ReduceSum", [s, g.constInt([1])], { keepdims: 1 })]);
      } else {
        mean = g.op("ReduceMean", [patches], { axes: [1], keepdims: 0 });
      }
      pooled = this.layerNorm(mean, "fc_norm");
    }
    return this.linear(pooled, "head", d, c);
  }

  initialState(x: string, merge: MergeMethod, sources: boolean): TokenState {
    const g = this.g;
    const { prefixTokens } = this.config;
    const p = patchCount(this.config);
    const ids = Array.from({ length: p }, (_, j) => j + prefixTokens);
    return {
      x,
      size: filled(g, dims(g, x, 0, 2), 1),
      sums: merge.sums?.(g, x, prefixTokens) ?? {},
      ...(sources && {
        sourceMap: g.op("Expand", [
          g.constInt(ids),
          g.op("Concat", [dim(g, x, 0), g.constInt([p])], { axis: 0 }),
        ]),
      }),
    };
  }

  /**
   * The mean over heads of `k [B, H, N, c]`: the heads summed in order, then divided, which is
   * bitwise what ReduceMean gives and a third of its time in ORT (it reduces a strided axis).
   */
  headMean(k: string): string {
    const g = this.g;
    const { numHeads } = this.config;
    const heads = Array.from(
      { length: numHeads },
      (_, h) => g.op("Gather", [k, g.constInt(h)], { axis: 1 }),
    );
    return g.op("Div", [g.op("Sum", heads), g.constFloat(numHeads)]);
  }

  /**
   * Block `i`'s merge step on `state` (after attention). A block whose requested `r` is 0 skips
   * it (an `If`), so unmerged blocks cost almost nothing; an adaptive method that chooses 0
   * skips the merging itself.
   */
  mergeStep(
    i: number,
    merge: MergeMethod,
    state: TokenState,
    attention: { keys: string; attn: string },
    schedule: string,
  ): TokenState {
    const g = this.g;
    const r = g.op("Gather", [schedule, g.constInt([i])], { axis: 0 });
    const sumNames = Object.keys(state.sums);
    const pack = (s: TokenState) => [
      s.x,
      s.size,
      ...sumNames.map((n) => s.sums[n]),
      ...(s.sourceMap ? [s.sourceMap] : []),
    ];
    const types: DType[] = pack(state).map((_, k) =>
      state.sourceMap && k === 2 + sumNames.length ? "int64" : "float32"
    );
    const unpack = (values: string[]): TokenState => ({
      x: values[0],
      size: values[1],
      sums: Object.fromEntries(sumNames.map((n, k) => [n, values[2 + k]])),
      ...(state.sourceMap && { sourceMap: values[2 + sumNames.length] }),
    });
    const positive = (v: string) =>
      g.op("Squeeze", [g.op("Greater", [v, g.constInt([0])]), g.constInt([0])]);
    const branch = () => {
      const ctx = {
        g,
        block: i,
        depth: this.config.depth,
        prefix: this.config.prefixTokens,
        state,
        keys: this.headMean(attention.keys),
        attention: attention.attn,
        r,
      };
      const plan = merge.plan(ctx);
      const apply = () => pack(applyPlan(ctx, plan.targets(), this.config.embedDim));
      return merge.adaptive ? g.ifElse(positive(plan.r), types, apply, () => pack(state)) : apply();
    };
    return unpack(g.ifElse(positive(r), types, branch, () => pack(state)));
  }

  /** Emits the whole forward pass; returns the names of what callers may output. */
  emit(merge: MergeMethod | undefined, sources: boolean): EmittedViT {
    const { depth } = this.config;
    const g = this.g;
    const pixels = g.input("pixel_values", "float32", [
      "batch",
      3,
      this.config.imgSize,
      this.config.imgSize,
    ]);
    const schedule = g.input("r", "int64", [depth]);
    for (const input of merge?.inputs?.(this.config) ?? []) {
      g.input(input.name, input.dtype, input.dims);
    }
    const embedded = this.embed(pixels);
    // The plain graph tracks no sizes: those names are never read without a method.
    let state: TokenState = merge
      ? this.initialState(embedded, merge, sources)
      : { x: embedded, size: "", sums: {} };
    const counts: string[] = [];
    const attentions: string[] = [];
    for (let i = 0; i < depth; i++) {
      counts.push(dim(g, state.x, 1));
      const size = merge ? state.size : undefined;
      const a = g.scoped(`b${i}.attn/`, () => {
        const a = this.attention(this.layerNorm(state.x, `blocks.${i}.norm1`), i, size);
        state = { ...state, x: g.op("Add", [state.x, a.out]) };
        return a;
      });
      attentions.push(a.attn);
      if (merge) {
        const before = state;
        state = g.scoped(`b${i}.merge/`, () => this.mergeStep(i, merge, before, a, schedule));
      }
      state = g.scoped(`b${i}.mlp/`, () => {
        const m = this.mlp(this.layerNorm(state.x, `blocks.${i}.norm2`), i);
        return { ...state, x: g.op("Add", [state.x, m]) };
      });
    }
    counts.push(dim(g, state.x, 1));
    const logits = this.head(state.x, merge ? state.size : undefined);
    return { pixels, logits, tokens: g.op("Concat", counts, { axis: 0 }), state, attentions };
  }
}

/** Names of the values a caller of `emitViT` may turn into outputs. */
export interface EmittedViT {
  pixels: string;
  logits: string;
  /** Tokens entering each block, then leaving the last, int64 `[L+1]`. */
  tokens: string;
  /** Final token state (size and source map only with a merge method). */
  state: TokenState;
  /** Softmax attention `[B,H,N,N]` of every block. */
  attentions: string[];
}

/** Emits a ViT forward pass into `g` (for graphs that add their own outputs). */
export function emitViT(
  g: GraphBuilder,
  model: ViTWeights,
  merge?: MergeMethod,
  sources = false,
): EmittedViT {
  return new ViTBuilder(model.config, model.weights, g).emit(merge, sources);
}

/** Options of `buildViTGraph`. */
export interface GraphOptions {
  /**
   * Also track which token each patch ends in, and output `source_map` and `sizes` (explain
   * pictures, tests); serving graphs leave it out.
   */
  sources?: boolean;
}

/**
 * Builds the ONNX model of a ViT. Without `merge` the graph is the plain model (it still takes
 * `r`, and ignores it); with a method, every block runs that method's merge step.
 */
export function buildViTGraph(
  model: ViTWeights,
  merge?: MergeMethod,
  options: GraphOptions = {},
): Uint8Array {
  const g = new GraphBuilder();
  const sources = Boolean(merge && options.sources);
  const vit = emitViT(g, model, merge, sources);
  g.output(vit.logits, "logits");
  g.output(vit.tokens, "tokens", "int64");
  if (sources) {
    g.output(vit.state.sourceMap!, "source_map", "int64");
    g.output(vit.state.size, "sizes");
  }
  return g.toModel(merge ? `vit_${merge.name}` : "vit");
}
