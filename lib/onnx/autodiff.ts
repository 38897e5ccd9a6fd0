/**
 * Reverse-mode differentiation of a graph built with `GraphBuilder`: given a value, the
 * gradient flowing into it and an input, emits the nodes computing the gradient with respect to
 * that input, in the same graph (so it runs in ORT, on every backend).
 *
 * It covers the ops the ViT builder emits on paths from the pixels to the logits. Operands on a
 * differentiable path are never broadcast in those graphs (biases and constants are), which the
 * rules below rely on; an op without a rule is an error naming it.
 * @module
 */
import type { GraphBuilder, NodeView } from "./builder.ts";
import { cast } from "./ops.ts";

/** Ops whose output does not depend differentiably on their inputs. */
const NON_DIFFERENTIABLE = new Set([
  "Shape",
  "Size",
  "ConstantOfShape",
  "Range",
  "ArgMax",
  "Cast",
  "Equal",
  "Less",
  "Greater",
  "Not",
  "And",
  "TopK",
  "CumSum",
]);

class Differentiator {
  #producer = new Map<string, NodeView>();
  #ranks = new Map<string, number>();
  #grads = new Map<string, string[]>();

  constructor(readonly g: GraphBuilder) {
    for (const n of g.nodes) for (const o of n.outputs) this.#producer.set(o, n);
  }

  /** Static rank of a value, from declarations and per-op rules. */
  rank(name: string): number {
    const known = this.#ranks.get(name) ?? this.g.declaredRank(name);
    if (known !== undefined) return known;
    const n = this.#producer.get(name);
    if (!n) throw new Error(`autodiff: unknown value ${name}`);
    const r = (i: number) => this.rank(n.inputs[i]);
    const axes = () =>
      (n.attrs.axes as number[] | undefined)?.length ??
        this.g.initializerValues(n.inputs[1])?.length ?? 0;
    let rank: number;
    switch (n.opType) {
      case "Conv":
        rank = 4;
        break;
      case "Reshape":
        rank = this.g.initializerValues(n.inputs[1])!.length;
        break;
      case "Gather":
        rank = r(0) - 1 + r(1);
        break;
      case "ReduceMean":
      case "ReduceSum":
      case "ReduceMax":
      case "ReduceL2":
        rank = n.attrs.keepdims === 0 ? r(0) - axes() : r(0);
        break;
      case "Unsqueeze":
        rank = r(0) + axes();
        break;
      case "Squeeze":
        rank = r(0) - axes();
        break;
      case "Shape":
        rank = 1;
        break;
      default:
        rank = Math.max(...n.inputs.map((_, i) => r(i)));
    }
    this.#ranks.set(name, rank);
    return rank;
  }

  #add(name: string, grad: string) {
    const list = this.#grads.get(name) ?? [];
    list.push(grad);
    this.#grads.set(name, list);
  }

  #total(name: string): string | undefined {
    const list = this.#grads.get(name);
    if (!list) return undefined;
    return list.length === 1 ? list[0] : this.g.op("Sum", list);
  }

  /** `[0, .., r-3, r-1, r-2]`: swaps the last two axes. */
  #swapLast(x: string): string {
    const r = this.rank(x);
    const perm = Array.from({ length: r }, (_, i) => i);
    [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
    return this.g.op("Transpose", [x], { perm });
  }

  /** Gradient of `n`'s input `i` from the gradient `gy` of its (first) output. */
  #backward(n: NodeView, i: number, gy: string): string {
    const g = this.g;
    const [a, b] = n.inputs;
    const y = n.outputs[0];
    switch (n.opType) {
      case "Identity":
        return gy;
      case "Add":
        return gy;
      case "Sub":
        return i === 0 ? gy : g.op("Neg", [gy]);
      case "Mul":
        return g.op("Mul", [gy, i === 0 ? b : a]);
      case "Div":
        return i === 0
          ? g.op("Div", [gy, b])
          : g.op("Neg", [g.op("Div", [g.op("Mul", [gy, y]), b])]);
      case "Erf": {
        const e = g.op("Exp", [g.op("Neg", [g.op("Mul", [a, a])])]);
        return g.op("Mul", [gy, g.op("Mul", [e, g.constFloat(2 / Math.sqrt(Math.PI))])]);
      }
      case "MatMul":
        return i === 0
          ? g.op("MatMul", [gy, this.#swapLast(b)])
          : g.op("MatMul", [this.#swapLast(a), gy]);
      case "Transpose": {
        const perm = n.attrs.perm as number[];
        const inverse = perm.map((_, k) => perm.indexOf(k));
        return g.op("Transpose", [gy], { perm: inverse });
      }
      case "Reshape":
      case "Squeeze":
      case "Unsqueeze":
        return g.op("Reshape", [gy, g.op("Shape", [a])]);
      case "Softmax": {
        const axis = n.attrs.axis as number;
        const dot = g.op("ReduceSum", [g.op("Mul", [gy, y]), g.constInt([axis])], { keepdims: 1 });
        return g.op("Mul", [y, g.op("Sub", [gy, dot])]);
      }
      case "LayerNormalization":
        return this.#layerNorm(n, gy);
      case "Conv":
        return this.#conv(n, gy);
      case "Gather":
        return this.#gather(n, gy);
      case "Concat":
        return this.#concat(n, i, gy);
      case "ReduceMean": {
        const axes = n.attrs.axes as number[];
        const kept = n.attrs.keepdims === 0 ? g.op("Unsqueeze", [gy, g.constInt(axes)]) : gy;
        const scale = g.op("Div", [
          cast(g, g.op("Size", [y]), "float32"),
          cast(g, g.op("Size", [a]), "float32"),
        ]);
        return g.op("Mul", [g.op("Expand", [kept, g.op("Shape", [a])]), scale]);
      }
      case "Slice":
        return this.#slice(n, gy);
      default:
        throw new Error(`autodiff: no gradient rule for ${n.opType}`);
    }
  }

  #layerNorm(n: NodeView, gy: string): string {
    const g = this.g;
    const [x, gamma] = n.inputs;
    const eps = (n.attrs.epsilon as { float: number }).float;
    const mean = (v: string) => g.op("ReduceMean", [v], { axes: [-1], keepdims: 1 });
    const centered = g.op("Sub", [x, mean(x)]);
    const inv = g.op("Reciprocal", [
      g.op("Sqrt", [g.op("Add", [mean(g.op("Mul", [centered, centered])), g.constFloat(eps)])]),
    ]);
    const xhat = g.op("Mul", [centered, inv]);
    const gxhat = g.op("Mul", [gy, gamma]);
    const inner = g.op("Sub", [
      g.op("Sub", [gxhat, mean(gxhat)]),
      g.op("Mul", [xhat, mean(g.op("Mul", [gxhat, xhat]))]),
    ]);
    return g.op("Mul", [inner, inv]);
  }

  #conv(n: NodeView, gy: string): string {
    const { kernel_shape: kernel, strides } = n.attrs as {
      kernel_shape: number[];
      strides: number[];
    };
    if (kernel.some((k, i) => k !== strides[i]) || n.attrs.pads) {
      throw new Error("autodiff: only non-overlapping, unpadded Conv (patchify) is supported");
    }
    return this.g.op("ConvTranspose", [gy, n.inputs[1]], { kernel_shape: kernel, strides });
  }

  #gather(n: NodeView, gy: string): string {
    const g = this.g;
    const [data, index] = n.inputs;
    if (this.rank(index) !== 0) throw new Error("autodiff: Gather needs a scalar index");
    const r = this.rank(data);
    const axis = ((n.attrs.axis as number) + r) % r;
    const length = g.op("Slice", [
      g.op("Shape", [data]),
      g.constInt([axis]),
      g.constInt([axis + 1]),
    ]);
    const positions = g.op("Range", [
      g.constInt(0),
      g.op("Squeeze", [length, g.constInt([0])]),
      g.constInt(1),
    ]);
    const hot = cast(g, g.op("Equal", [positions, index]), "float32");
    const shape = Array.from({ length: r }, (_, k) => (k === axis ? -1 : 1));
    const mask = g.op("Reshape", [hot, g.constInt(shape)]);
    return g.op("Mul", [g.op("Unsqueeze", [gy, g.constInt([axis])]), mask]);
  }

  #concat(n: NodeView, i: number, gy: string): string {
    const g = this.g;
    const axis = n.attrs.axis as number;
    const size = (v: string) =>
      g.op("Slice", [g.op("Shape", [v]), g.constInt([axis]), g.constInt([axis + 1])]);
    // Sum has no int64 kernel: add the preceding sizes one by one.
    const start = n.inputs.slice(0, i).map(size).reduce(
      (acc, v) => g.op("Add", [acc, v]),
      g.constInt([0]),
    );
    const end = g.op("Add", [start, size(n.inputs[i])]);
    return g.op("Slice", [gy, start, end, g.constInt([axis])]);
  }

  #slice(n: NodeView, gy: string): string {
    const g = this.g;
    const [x, starts, , axesName, steps] = n.inputs;
    const axes = axesName ? this.g.initializerValues(axesName) : undefined;
    if (steps && this.g.initializerValues(steps)?.some((s) => s !== 1)) {
      throw new Error("autodiff: Slice with steps is not supported");
    }
    const r = this.rank(x);
    const axis = axes?.[0] ?? 0;
    if ((axes?.length ?? 1) !== 1 || this.g.initializerValues(starts) === undefined) {
      throw new Error("autodiff: only single-axis constant Slice is supported");
    }
    const begin = g.constInt(this.g.initializerValues(starts)!);
    const full = g.op("Slice", [g.op("Shape", [x]), g.constInt([axis]), g.constInt([axis + 1])]);
    const kept = g.op("Slice", [g.op("Shape", [gy]), g.constInt([axis]), g.constInt([axis + 1])]);
    const after = g.op("Sub", [g.op("Sub", [full, begin]), kept]);
    const zeros = Array(r).fill(0);
    const pads = g.op(
      "Concat",
      [
        g.constInt(zeros.slice(0, axis)),
        begin,
        g.constInt(zeros.slice(axis + 1)),
        g.constInt(zeros.slice(0, axis)),
        after,
        g.constInt(zeros.slice(axis + 1)),
      ].filter((v) => v !== undefined),
      { axis: 0 },
    );
    return g.op("Pad", [gy, pads]);
  }

  run(output: string, seed: string, wrt: string): string {
    const nodes = [...this.g.nodes];
    // Forward: which values depend (differentiably) on `wrt`.
    const live = new Set([wrt]);
    for (const n of nodes) {
      if (NON_DIFFERENTIABLE.has(n.opType)) continue;
      if (n.inputs.some((v) => live.has(v))) n.outputs.forEach((o) => live.add(o));
    }
    if (!live.has(output)) throw new Error(`autodiff: ${output} does not depend on ${wrt}`);
    this.#add(output, seed);
    // Backward, in reverse topological order (the builder appends nodes in that order).
    for (let k = nodes.length - 1; k >= 0; k--) {
      const n = nodes[k];
      if (!n.outputs.some((o) => live.has(o))) continue;
      const gy = this.#total(n.outputs[0]);
      if (!gy) continue;
      n.inputs.forEach((input, i) => {
        if (live.has(input)) this.#add(input, this.#backward(n, i, gy));
      });
    }
    const grad = this.#total(wrt);
    if (!grad) throw new Error(`autodiff: no gradient reached ${wrt}`);
    return grad;
  }
}

/**
 * Emits into `g` the gradient of `output` with respect to `wrt`, given `seed` = d(loss)/d(output)
 * (same shape as `output`), and returns its name.
 */
export function gradient(g: GraphBuilder, output: string, seed: string, wrt: string): string {
  return new Differentiator(g).run(output, seed, wrt);
}
