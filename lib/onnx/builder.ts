/**
 * A small typed ONNX graph builder. Values are referred to by name (plain strings), nodes are
 * appended in topological order, and `toModel()` serialises a standard ONNX `ModelProto`.
 *
 * ```ts
 * const g = new GraphBuilder();
 * const x = g.input("x", "float32", ["batch", 4]);
 * g.output(g.op("Relu", [x]), "y");
 * const bytes = g.toModel();
 * ```
 * @module
 */
import { ModelProto } from "./proto.ts";

/** Element types the builder writes, with their ONNX `TensorProto.DataType` codes. */
export const DTYPE_CODES = { float32: 1, int32: 6, int64: 7, bool: 9 } as const;
/** An element type the builder knows. */
export type DType = keyof typeof DTYPE_CODES;
/** A dimension: a fixed size or a named dynamic one. */
export type Dim = number | string;

/** A float attribute; plain integral numbers are written as ints. */
export interface FloatAttr {
  float: number;
}
/** A subgraph attribute (the branches of `If`). */
export interface GraphAttr {
  graph: { name: string; nodes: NodeView[]; outputs: ValueInfo[] };
}
/** An attribute value: int, float, ints, string, a tensor (for `ConstantOfShape`), a subgraph. */
export type AttrValue = number | FloatAttr | number[] | string | TensorInit | GraphAttr;

/** Data and shape for an initializer or constant. */
export interface TensorInit {
  dtype: DType;
  dims: number[];
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array;
}

/** Marks a number as a float attribute (`{ epsilon: float(1e-6) }`). */
export function float(value: number): FloatAttr {
  return { float: value };
}

/** ONNX opset version written into models. */
export const OPSET = 17;

interface ValueInfo {
  name: string;
  dtype: DType;
  shape?: Dim[];
}

/** A node as recorded by the builder (for graph transformations such as autodiff). */
export interface NodeView {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, AttrValue>>;
}

function shapeOf(values: number | number[]): number[] {
  return typeof values === "number" ? [] : [values.length];
}

function isTensorInit(v: AttrValue): v is TensorInit {
  return typeof v === "object" && !Array.isArray(v) && "dtype" in v;
}

function nodeProto(n: NodeView): Record<string, unknown> {
  return {
    op_type: n.opType,
    input: n.inputs,
    output: n.outputs,
    name: n.outputs[0],
    attribute: Object.entries(n.attrs).map(([k, v]) => attribute(k, v)),
  };
}

function tensorProto(name: string, t: TensorInit): Record<string, unknown> {
  return {
    name,
    dims: t.dims,
    data_type: DTYPE_CODES[t.dtype],
    raw_data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
  };
}

function attribute(name: string, value: AttrValue): Record<string, unknown> {
  if (typeof value === "number") {
    return Number.isInteger(value) ? { name, type: 2, i: value } : { name, type: 1, f: value };
  }
  if (typeof value === "string") return { name, type: 3, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: 7, ints: value };
  if (isTensorInit(value)) return { name, type: 4, t: tensorProto("", value) };
  if ("graph" in value) {
    const { graph } = value;
    return {
      name,
      type: 5,
      g: {
        name: graph.name,
        node: graph.nodes.map(nodeProto),
        output: graph.outputs.map(valueInfo),
      },
    };
  }
  return { name, type: 1, f: value.float };
}

function valueInfo(v: ValueInfo): Record<string, unknown> {
  const tensor: Record<string, unknown> = { elem_type: DTYPE_CODES[v.dtype] };
  if (v.shape) {
    tensor.shape = {
      dim: v.shape.map((d) => typeof d === "number" ? { dim_value: d } : { dim_param: d }),
    };
  }
  return { name: v.name, type: { tensor_type: tensor } };
}

/** Builds one ONNX graph. Every method returns the name of the value it creates. */
export class GraphBuilder {
  #inputs: ValueInfo[] = [];
  #outputs: ValueInfo[] = [];
  #initializers: Record<string, unknown>[] = [];
  #initializerData = new Map<string, TensorInit>();
  #nodes: NodeView[] = [];
  #names = new Set<string>();
  #constCache = new Map<string, string>();
  #counter = 0;
  #scope = "";

  /** A fresh value name starting with `hint`. */
  fresh(hint: string): string {
    let name = hint;
    while (this.#names.has(name)) name = `${hint}_${++this.#counter}`;
    this.#names.add(name);
    return name;
  }

  /**
   * Runs `emit` with node names prefixed by `scope` (e.g. `b3.merge/`), so profiles and graph
   * viewers show which part of the model a node belongs to. Scopes nest.
   */
  scoped<T>(scope: string, emit: () => T): T {
    const outer = this.#scope;
    this.#scope = outer + scope;
    try {
      return emit();
    } finally {
      this.#scope = outer;
    }
  }

  /** Declares a graph input. */
  input(name: string, dtype: DType, shape: Dim[]): string {
    this.#inputs.push({ name: this.#claim(name), dtype, shape });
    return name;
  }

  /** Declares `value` as a graph output called `name` (an Identity is added if names differ). */
  output(value: string, name: string, dtype: DType = "float32"): string {
    if (value !== name) this.op("Identity", [value], {}, name);
    this.#outputs.push({ name, dtype });
    return name;
  }

  /** Adds a named initializer (a weight). */
  initializer(name: string, t: TensorInit): string {
    return this.#addInitializer(this.#claim(name), t);
  }

  #addInitializer(name: string, t: TensorInit): string {
    const size = t.dims.reduce((a, b) => a * b, 1);
    if (size !== t.data.length) {
      throw new Error(`initializer ${name}: ${t.data.length} values for shape [${t.dims}]`);
    }
    this.#initializers.push(tensorProto(name, t));
    this.#initializerData.set(name, t);
    return name;
  }

  /** A float32 constant (deduplicated): a scalar for a number, 1-D for an array. */
  constFloat(values: number | number[]): string {
    const list = typeof values === "number" ? [values] : values;
    return this.#const("float32", Float32Array.from(list), shapeOf(values));
  }

  /** An int64 constant (deduplicated): a scalar for a number, 1-D for an array. */
  constInt(values: number | number[]): string {
    const list = typeof values === "number" ? [values] : values;
    return this.#const("int64", BigInt64Array.from(list.map(BigInt)), shapeOf(values));
  }

  /** Appends a node with one output and returns that output's name. */
  op(
    opType: string,
    inputs: string[],
    attrs: Record<string, AttrValue> = {},
    name?: string,
  ): string {
    return this.opN(opType, inputs, 1, attrs, name)[0];
  }

  /** Appends a node with `count` outputs and returns their names. */
  opN(
    opType: string,
    inputs: string[],
    count: number,
    attrs: Record<string, AttrValue> = {},
    name?: string,
  ): string[] {
    const base = name ?? this.fresh(this.#scope + opType.toLowerCase());
    if (name) this.#claim(name);
    const outputs = [base];
    for (let i = 1; i < count; i++) outputs.push(this.fresh(`${base}_${i}`));
    this.#nodes.push({ opType, inputs, outputs, attrs });
    return outputs;
  }

  /**
   * An `If` node on the bool scalar `cond`: `then` and `otherwise` emit their nodes into the two
   * subgraphs (which may read any value of the graph) and return their outputs, whose element
   * types are `types`. Returns the node's outputs.
   */
  ifElse(
    cond: string,
    types: DType[],
    then: () => string[],
    otherwise: () => string[],
  ): string[] {
    const branch = (label: string, emit: () => string[]): GraphAttr => {
      const outer = this.#nodes;
      this.#nodes = [];
      try {
        const produced = emit();
        if (produced.length !== types.length) {
          throw new Error(`If branch ${label}: ${produced.length} outputs, ${types.length} types`);
        }
        // A branch must produce its outputs itself; pass-through values get an Identity.
        const own = new Set(this.#nodes.flatMap((n) => n.outputs));
        const outputs = produced.map((v) => own.has(v) ? v : this.op("Identity", [v]));
        return {
          graph: {
            name: this.fresh(`${this.#scope}${label}`),
            nodes: this.#nodes,
            outputs: outputs.map((name, i) => ({ name, dtype: types[i] })),
          },
        };
      } finally {
        this.#nodes = outer;
      }
    };
    const thenBranch = branch("then", then);
    const elseBranch = branch("else", otherwise);
    return this.opN("If", [cond], types.length, {
      then_branch: thenBranch,
      else_branch: elseBranch,
    });
  }

  /** The nodes so far, in order. */
  get nodes(): readonly NodeView[] {
    return this.#nodes;
  }

  /** Rank of a graph input or initializer (undefined for node outputs). */
  declaredRank(name: string): number | undefined {
    return this.#inputs.find((i) => i.name === name)?.shape?.length ??
      this.#initializerData.get(name)?.dims.length;
  }

  /** Values of an initializer or constant, if `name` is one. */
  initializerValues(name: string): number[] | undefined {
    const t = this.#initializerData.get(name);
    return t && Array.from(t.data as ArrayLike<number | bigint>, Number);
  }

  /** Serialises the graph as an ONNX model. */
  toModel(graphName = "edgemerge"): Uint8Array {
    const model = {
      ir_version: 8,
      producer_name: "edgemerge",
      opset_import: [{ domain: "", version: OPSET }],
      graph: {
        name: graphName,
        node: this.#nodes.map(nodeProto),
        initializer: this.#initializers,
        input: this.#inputs.map(valueInfo),
        output: this.#outputs.map(valueInfo),
      },
    };
    return ModelProto.encode(ModelProto.fromObject(model)).finish();
  }

  #const(dtype: DType, data: Float32Array | BigInt64Array, dims: number[]): string {
    const key = `${dtype}|${dims}|${Array.from(data as ArrayLike<number | bigint>).join(",")}`;
    const cached = this.#constCache.get(key);
    if (cached) return cached;
    const name = this.#addInitializer(this.fresh(`const_${dtype}`), { dtype, dims, data });
    this.#constCache.set(key, name);
    return name;
  }

  #claim(name: string): string {
    // Names are single-assignment in ONNX; a clash is a builder bug, not user input.
    if (this.#names.has(name)) throw new Error(`value name ${name} is already defined`);
    this.#names.add(name);
    return name;
  }
}
