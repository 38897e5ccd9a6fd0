/**
 * The ViT forward pass as an ONNX graph, built from timm weights.
 *
 * Inputs: `pixel_values [B,3,H,W]` float32 and the merge schedule `r [L]` int64; with a merge
 * method also `resolution [1]` int64, the pixels the run resizes the image to (the model's
 * own: not resized).
 * Outputs: `logits [B,C]`, `tokens [L+1]` (tokens entering each block, then leaving the last)
 * and, when a merge method is built in, `source_map [B,P]` (the final token of every patch) and
 * `sizes [B,N_final]` (patches per final token).
 *
 * Each block is `x + attn(norm1(x))`, then the merge step, then `x + mlp(norm2(x))`, so attention
 * sees `N` tokens and the MLP `N - r_l`.
 * @module
 */
import { UserError } from "../errors.ts";
import { type Dim, type DType, float, GraphBuilder } from "../onnx/builder.ts";
import { bilinear, dim, dims, filled, sliceAxis } from "../onnx/ops.ts";
import type { ViTConfig } from "../checkpoint/config.ts";
import { lowerResolutions, patchGrid, tokenCount } from "../checkpoint/config.ts";
import { resamplePosEmbed } from "../checkpoint/pos_embed.ts";
import type { Tensor } from "../checkpoint/safetensors.ts";
import { applyPlan } from "../merge/apply.ts";
import type { MergeMethod, TokenState } from "../merge/step.ts";

/** Bumped whenever the emitted graph changes, so cached models are rebuilt. */
export const GRAPH_VERSION = 10;

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

  /** The initializer `name` (declared once: both branches of an `If` may read a weight). */
  param(name: string, dims: number[], data?: Float32Array): string {
    if (this.#declared.has(name)) return name;
    this.#declared.add(name);
    return this.g.initializer(name, {
      dtype: "float32",
      dims,
      data: data ?? this.weight(name, dims).data,
    });
  }

  readonly #declared = new Set<string>();

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

  /**
   * Patch embedding plus position embedding. With `resolution` (int64 `[1]`, pixels) below the
   * model's own, the image is first resized to it and the position embedding is the one
   * resampled to its fewer patches (`resamplePosEmbed`), so a run starts with fewer tokens
   * without any training (docs/RESULTS.md, "Fewer patches").
   */
  embed(pixels: string, resolution?: string): string {
    const own = () => this.embedAt(pixels, this.posEmbed());
    const lower = lowerResolutions(this.config);
    if (resolution === undefined || lower.length === 0) return own();
    const g = this.g;
    const isOwn = g.op("Equal", [resolution, g.constInt([this.config.imgSize])]);
    // Only the image and the table are chosen in the If: the patch embedding stays in the main
    // graph, where ORT optimises it as in the plain model (bit-exact at r = 0 on native too).
    const [image, table] = g.ifElse(
      g.op("Squeeze", [isOwn, g.constInt([0])]),
      ["float32", "float32"],
      () => [pixels, this.posEmbed()],
      () => {
        const sizes = g.op("Concat", [dims(g, pixels, 0, 2), resolution, resolution], { axis: 0 });
        return [bilinear(g, pixels, sizes), this.lowerPosEmbed(resolution, lower)];
      },
    );
    return this.embedAt(image, table);
  }

  /** The position embedding `[1, 1 + P, D]` of the model's own patch grid. */
  posEmbed(): string {
    const { embedDim: d } = this.config;
    return this.param("pos_embed", [1, tokenCount(this.config), d]);
  }

  /**
   * The position embedding of a run at `resolution`, one of `lower`: every lower resolution's
   * resampled table is computed once, at build time, and stored one after the other (ORT's own
   * cubic Resize would take milliseconds per run); the run slices out its own.
   */
  lowerPosEmbed(resolution: string, lower: number[]): string {
    const { embedDim: d, prefixTokens: prefix, patchSize: p } = this.config;
    const g = this.g;
    const table = this.weight("pos_embed", [1, tokenCount(this.config), d]).data;
    const shape = { prefix, grid: patchGrid(this.config)[0], width: d };
    const parts = lower.map((r) => resamplePosEmbed(table, shape, r / p));
    const offsets = [0];
    for (const part of parts) offsets.push(offsets.at(-1)! + part.length / d);
    const all = new Float32Array(offsets.at(-1)! * d);
    parts.forEach((part, i) => all.set(part, offsets[i] * d));
    const stacked = this.param("pos_embed.lower", [1, offsets.at(-1)!, d], all);
    const index = g.op("Sub", [
      g.op("Div", [resolution, g.constInt([p])]),
      g.constInt([lower[0] / p]),
    ]);
    const at = (k: string) => g.op("Gather", [g.constInt(offsets), k], { axis: 0 });
    return sliceAxis(g, stacked, 1, at(index), at(g.op("Add", [index, g.constInt([1])])));
  }

  embedAt(pixels: string, posEmbed: string): string {
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
    return g.op("Add", [tokens, posEmbed]);
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
    const logits = g.op("MatMul", [q, g.op("Transpose", [k], { perm: [0, 1, 3, 2] })]);
    const softmax = (v: string) => g.op("Softmax", [v], { axis: -1 });
    // Proportional attention adds log(size); while every size is 1 (nothing merged yet) that is
    // log 1 = 0, and skipping the add over [B, H, N, N] saves ~3 % of an unmerged run on native.
    const attn = size && this.config.propAttn
      ? g.ifElse(
        g.op("LessOrEqual", [g.op("ReduceMax", [size], { keepdims: 0 }), g.constFloat(1)]),
        ["float32"],
        () => [softmax(logits)],
        () => [
          softmax(g.op("Add", [
            logits,
            g.op("Unsqueeze", [g.op("Log", [size]), g.constInt([1, 2])]),
          ])),
        ],
      )[0]
      : softmax(logits);
    const out = g.op("Reshape", [
      g.op("Transpose", [g.op("MatMul", [attn, v])], { perm: [0, 2, 1, 3] }),
      g.constInt([0, 0, d]),
    ]);
    return { out: this.linear(out, `${pre}.proj`, d, d), qkv, attn };
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

  initialState(x: string, methods: MergeMethod[], sources: boolean): TokenState {
    const g = this.g;
    const { prefixTokens } = this.config;
    // Patch ids from the token count, which a lower resolution lowers.
    const tokens = g.op("Squeeze", [dim(g, x, 1), g.constInt([0])]);
    const ids = g.op("Range", [g.constInt(prefixTokens), tokens, g.constInt(1)]);
    return {
      x,
      size: filled(g, dims(g, x, 0, 2), 1),
      sums: Object.fromEntries(
        methods.flatMap((m) =>
          Object.entries(m.sums ?? {}).map(([n, initial]) => [n, initial(g, x, this.config)])
        ),
      ),
      ...(sources && {
        sourceMap: g.op("Expand", [
          ids,
          g.op("Concat", [dim(g, x, 0), dim(g, ids, 0)], { axis: 0 }),
        ]),
      }),
    };
  }

  /**
   * The keys' mean over heads, `[B, N, c]`, from the attention's `qkv [B, N, 3D]`: the heads
   * summed in order, then divided, which is bitwise what ReduceMean gives and a third of its time
   * in ORT (it reduces a strided axis). Read from `qkv`, not from the keys the attention
   * transposed, so that no second layout of the keys is kept for a step that may not run.
   */
  headMean(qkv: string): string {
    const g = this.g;
    const { numHeads, embedDim: d } = this.config;
    const keys = g.op("Reshape", [
      sliceAxis(g, qkv, 2, d, 2 * d),
      g.constInt([0, 0, numHeads, d / numHeads]),
    ]);
    const heads = Array.from(
      { length: numHeads },
      (_, h) => g.op("Gather", [keys, g.constInt(h)], { axis: 2 }),
    );
    return g.op("Div", [g.op("Sum", heads), g.constFloat(numHeads)]);
  }

  /**
   * Block `i`'s merge step on `state` (after attention). A block whose requested `r` is 0 skips
   * it (an `If`), so unmerged blocks cost almost nothing; with several steps in the graph the
   * `step` input picks one (a tree of `If`s on `stepAtMost`, `step <= k` by k); an adaptive
   * method that chooses 0 skips the merging itself.
   */
  mergeStep(
    i: number,
    steps: MergeMethod[],
    state: TokenState,
    attention: { qkv: string; attn: string },
    schedule: string,
    stepAtMost: string[] | undefined,
    truncate: boolean,
  ): TokenState {
    const g = this.g;
    const r = g.op("Gather", [schedule, g.constInt([i])], { axis: 0 });
    if (truncate) return this.unpack(state, this.when(r, state, () => this.truncated(state, r)));
    const run = (merge: MergeMethod) => () => {
      const ctx = {
        g,
        block: i,
        depth: this.config.depth,
        prefix: this.config.prefixTokens,
        state,
        keys: this.headMean(attention.qkv),
        attention: attention.attn,
        r,
      };
      const plan = merge.plan(ctx);
      const apply = () => this.pack(applyPlan(ctx, plan.targets(), this.config.embedDim));
      return merge.adaptive ? this.when(plan.r, state, apply) : apply();
    };
    // A tree of Ifs over the steps `lo .. hi`: each level costs every run that passes it (1-3 %
    // of a run on native, docs/PERFORMANCE.md). The first step (ToMe's, the one most operating
    // points use) sits alone at the top; the others split evenly below it.
    const dispatch = (lo: number, hi: number): () => string[] => {
      if (lo === hi) return run(steps[lo]);
      const mid = lo === 0 ? 0 : Math.floor((lo + hi) / 2);
      return () =>
        g.ifElse(
          stepAtMost![mid],
          this.types(state),
          dispatch(lo, mid),
          dispatch(mid + 1, hi),
        );
    };
    return this.unpack(state, this.when(r, state, dispatch(0, steps.length - 1)));
  }

  /**
   * `state`'s values without its last `r` tokens (`GraphOptions.truncate`); the source map, by
   * patch, is passed on as it is (a baseline has no explain picture).
   */
  truncated(state: TokenState, r: string): string[] {
    const g = this.g;
    const keep = g.op("Sub", [dim(g, state.x, 1), r]);
    return this.pack(state).map((v) => v === state.sourceMap ? v : sliceAxis(g, v, 1, 0, keep));
  }

  /** The values of a token state, in a fixed order (for `If` outputs). */
  pack(s: TokenState): string[] {
    return packState(s);
  }

  /** The element types of `pack(s)`. */
  types(s: TokenState): DType[] {
    return this.pack(s).map((v) => v === s.sourceMap ? "int64" : "float32");
  }

  /** A token state shaped like `like` from `pack`ed values. */
  unpack(like: TokenState, values: string[]): TokenState {
    const names = Object.keys(like.sums).sort();
    return {
      x: values[0],
      size: values[1],
      sums: Object.fromEntries(names.map((n, k) => [n, values[2 + k]])),
      ...(like.sourceMap && { sourceMap: values[2 + names.length] }),
    };
  }

  /** `emit()`'s packed outputs where the int64 `[1]` `count` is above 0, else `state` unchanged. */
  when(count: string, state: TokenState, emit: () => string[]): string[] {
    const g = this.g;
    const positive = g.op("Squeeze", [g.op("Greater", [count, g.constInt([0])]), g.constInt([0])]);
    return g.ifElse(positive, this.types(state), emit, () => this.pack(state));
  }

  /** Emits the whole forward pass; returns the names of what callers may output. */
  emit(methods: MergeMethod[], options: GraphOptions): EmittedViT {
    const { depth, imgSize, numClasses } = this.config;
    const g = this.g;
    const merging = methods.length > 0;
    const sources = merging && Boolean(options.sources);
    const segments = merging && Boolean(options.segments);
    const truncate = merging && Boolean(options.truncate);
    const pixels = g.input("pixel_values", "float32", [
      "batch",
      3,
      segments ? "height" : imgSize,
      segments ? "width" : imgSize,
    ]);
    const schedule = g.input("r", "int64", [depth]);
    const resolution = merging ? g.input("resolution", "int64", [1]) : undefined;
    const declared = new Set<string>();
    for (const m of methods) {
      for (const input of m.inputs?.(this.config) ?? []) {
        if (declared.has(input.name)) continue;
        declared.add(input.name);
        g.input(input.name, input.dtype, input.dims);
      }
    }
    const steps = uniqueSteps(methods);
    const step = steps.length > 1 ? g.input("step", "int64", [1]) : undefined;
    // `step <= k` for k = 0 .. steps - 2, once per run: the steps' Ifs in every block read them.
    const stepAtMost = step === undefined
      ? undefined
      : steps.slice(1).map((_, k) => scalar(g, g.op("LessOrEqual", [step, g.constInt([k])])));
    const fromImage = () => this.initialState(this.embed(pixels, resolution), methods, sources);
    let state: TokenState;
    let range: { start: string; end: string } | undefined;
    if (!merging) {
      // The plain graph tracks no sizes: those names are never read without a method.
      state = { x: this.embed(pixels), size: "", sums: {} };
    } else if (!segments) {
      state = fromImage();
    } else {
      range = { start: g.input("start", "int64", [1]), end: g.input("end", "int64", [1]) };
      // A segment starts from the image (start = 0) or from the state a segment returned.
      const like = this.shapeOf(methods, sources);
      const given = this.pack(like).map((name, k) =>
        g.input(`${name}_in`, this.types(like)[k], stateDims(name, this.config))
      );
      state = this.unpack(
        like,
        g.ifElse(
          scalar(g, g.op("Equal", [range.start, g.constInt([0])])),
          this.types(like),
          () => this.pack(fromImage()),
          () => given,
        ),
      );
    }
    const counts: string[] = [];
    const attentions: string[] = [];
    const block = (i: number, before: TokenState): TokenState => {
      let s = before;
      const a = g.scoped(`b${i}.attn/`, () => {
        const a = this.attention(
          this.layerNorm(s.x, `blocks.${i}.norm1`),
          i,
          merging ? s.size : undefined,
        );
        s = { ...s, x: g.op("Add", [s.x, a.out]) };
        return a;
      });
      attentions.push(a.attn);
      if (merging) {
        const after = s;
        s = g.scoped(
          `b${i}.merge/`,
          () => this.mergeStep(i, steps, after, a, schedule, stepAtMost, truncate),
        );
      }
      return g.scoped(`b${i}.mlp/`, () => {
        const m = this.mlp(this.layerNorm(s.x, `blocks.${i}.norm2`), i);
        return { ...s, x: g.op("Add", [s.x, m]) };
      });
    };
    // Segments start and end at group boundaries: one If per group, not per block, keeps the
    // fusions ORT makes across blocks and the If overhead small.
    const length = range ? segmentLength(this.config, options) : depth;
    for (let first = 0; first < depth; first += length) {
      const blocks = Array.from({ length: Math.min(length, depth - first) }, (_, k) => first + k);
      const group = (before: TokenState) => {
        let s = before;
        const entering: string[] = [];
        for (const i of blocks) {
          entering.push(dim(g, s.x, 1));
          s = block(i, s);
        }
        return { state: s, entering };
      };
      if (!range) {
        const done = group(state);
        state = done.state;
        counts.push(...done.entering);
        continue;
      }
      const before = state;
      const inRange = g.op("And", [
        g.op("LessOrEqual", [range.start, g.constInt([first])]),
        g.op("Less", [g.constInt([first]), range.end]),
      ]);
      const out = g.ifElse(
        scalar(g, inRange),
        [...this.types(before), "int64"],
        () => {
          const done = group(before);
          return [...this.pack(done.state), g.op("Concat", done.entering, { axis: 0 })];
        },
        () => [
          ...this.pack(before),
          g.op("Expand", [dim(g, before.x, 1), g.constInt([blocks.length])]),
        ],
      );
      state = this.unpack(before, out.slice(0, -1));
      counts.push(out.at(-1)!);
    }
    counts.push(dim(g, state.x, 1));
    const final = state;
    const logits = range
      ? g.ifElse(
        scalar(g, g.op("Equal", [range.end, g.constInt([depth])])),
        ["float32"],
        () => [this.head(final.x, final.size)],
        () => [
          filled(g, g.op("Concat", [dim(g, final.x, 0), g.constInt([numClasses])], { axis: 0 })),
        ],
      )[0]
      : this.head(state.x, merging ? state.size : undefined);
    return { pixels, logits, tokens: g.op("Concat", counts, { axis: 0 }), state, attentions };
  }

  /** The structure of the token state of `methods` (no nodes: the names of its parts). */
  shapeOf(methods: MergeMethod[], sources: boolean): TokenState {
    return partNames(methods.flatMap((m) => Object.keys(m.sums ?? {})), sources);
  }
}

/** A token state's values in a fixed order: `If` outputs, and a segment's inputs and outputs. */
function packState(s: TokenState): string[] {
  return [
    s.x,
    s.size,
    ...Object.keys(s.sums).sort().map((n) => s.sums[n]),
    ...(s.sourceMap ? [s.sourceMap] : []),
  ];
}

/** A token state whose parts are their own names (`x`, `size`, each sum, `source_map`). */
function partNames(sums: readonly string[], sources: boolean): TokenState {
  const named = Object.fromEntries(sums.map((n) => [n, n]));
  return { x: "x", size: "size", sums: named, ...(sources && { sourceMap: "source_map" }) };
}

/** Blocks per segment group: `segments` as a number, else `DEFAULT_SEGMENT` (see `GraphOptions`). */
export function segmentLength(config: ViTConfig, options: GraphOptions): number {
  const asked = typeof options.segments === "number" ? options.segments : DEFAULT_SEGMENT;
  return Math.max(1, Math.min(asked, config.depth));
}

/** Blocks per segment when none is given (chosen by measurement, docs/PERFORMANCE.md). */
export const DEFAULT_SEGMENT = 6;

/** A bool `[1]` as the scalar `If` takes. */
function scalar(g: GraphBuilder, v: string): string {
  return g.op("Squeeze", [v, g.constInt([0])]);
}

/** Dims of a segment's state input (`x`, `size`, a sum, or the source map). */
function stateDims(name: string, config: ViTConfig): Dim[] {
  if (name === "x") return ["batch", "tokens", config.embedDim];
  if (name === "source_map") return ["batch", "patches"];
  return ["batch", "tokens"];
}

/** The distinct merge steps of `methods` (SAD-TM and SAD-TM-DM share one), in first-seen order. */
export function uniqueSteps(methods: MergeMethod[]): MergeMethod[] {
  const seen = new Map<unknown, MergeMethod>();
  for (const m of methods) if (!seen.has(m.plan)) seen.set(m.plan, m);
  return [...seen.values()];
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
  merge?: MergeMethod | MergeMethod[],
  options: GraphOptions = {},
): EmittedViT {
  const methods = merge === undefined ? [] : Array.isArray(merge) ? merge : [merge];
  return new ViTBuilder(model.config, model.weights, g).emit(methods, options);
}

/** Options of `buildViTGraph`. */
export interface GraphOptions {
  /**
   * Also track which token each patch ends in, and output `source_map` and `sizes` (explain
   * pictures, tests); serving graphs leave it out.
   */
  sources?: boolean;
  /**
   * Run a range of blocks: inputs `start`, `end` (`[start, end)`, multiples of the segment
   * length or the depth) and, for `start > 0`, the token state (`x_in`, `size_in`, sums,
   * `source_map_in`); outputs that state after `end` (`x_out`, ...) and, when `end` is the
   * depth, the logits (zeros otherwise). A number sets the segment length (default `DEFAULT_SEGMENT` blocks).
   */
  segments?: boolean | number;
  /**
   * A baseline for benchmarks, not a method: every block whose `r` is above 0 keeps its first
   * `N - r` tokens instead of running the method's step, so a run has the schedule's token
   * counts at almost no merge cost, i.e. the speed a free merge step would reach.
   */
  truncate?: boolean;
}

/**
 * Builds the ONNX model of a ViT. Without a method the graph is the plain model (it still takes
 * `r`, and ignores it); with one, every block runs its merge step; with several, the `step`
 * input (the index into `uniqueSteps(methods)`) picks which.
 */
export function buildViTGraph(
  model: ViTWeights,
  merge?: MergeMethod | MergeMethod[],
  options: GraphOptions = {},
): Uint8Array {
  const g = new GraphBuilder();
  const vit = emitViT(g, model, merge, options);
  const merging = merge !== undefined && (!Array.isArray(merge) || merge.length > 0);
  g.output(vit.logits, "logits");
  g.output(vit.tokens, "tokens", "int64");
  if (merging && options.sources) {
    g.output(vit.state.sourceMap!, "source_map", "int64");
    g.output(vit.state.size, "sizes");
  }
  if (merging && options.segments) {
    const names = packState(partNames(Object.keys(vit.state.sums), options.sources === true));
    packState(vit.state).forEach((v, k) =>
      g.output(v, `${names[k]}_out`, names[k] === "source_map" ? "int64" : "float32")
    );
  }
  const label = merge === undefined
    ? "vit"
    : Array.isArray(merge)
    ? "vit_engine"
    : `vit_${merge.name}`;
  return g.toModel(label);
}
