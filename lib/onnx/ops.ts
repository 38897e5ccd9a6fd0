/**
 * Small graph idioms every graph in edgemerge uses: dimensions of a value, slices along an axis,
 * ranges, tensors filled with one value, and casts named by element type (never by ONNX code).
 *
 * @example
 * ```ts
 * const g = new GraphBuilder();
 * const x = g.input("x", "float32", ["batch", "n", 4]);
 * const n = dim(g, x, 1); // int64 [1]
 * const rest = sliceAxis(g, x, 1, 1); // x[:, 1:]
 * const mask = cast(g, g.op("Greater", [x, g.constFloat(0)]), "float32");
 * ```
 * @module
 */
import { type DType, DTYPE_CODES, type GraphBuilder, type TensorInit } from "./builder.ts";

/** End index of open-ended slices (ONNX clamps it to the dimension). */
export const END = 1 << 30;

/** Dimensions `from .. to-1` of `x` as int64 `[to - from]` (one `Shape` node, opset 15+). */
export function dims(g: GraphBuilder, x: string, from: number, to: number): string {
  return g.op("Shape", [x], { start: from, end: to });
}

/** Dimension `axis` of `x` as int64 `[1]`. */
export function dim(g: GraphBuilder, x: string, axis: number): string {
  return dims(g, x, axis, axis + 1);
}

/**
 * `x[from:to:step]` along `axis`; `from` and `to` are numbers or int64 `[1]` values, `to`
 * defaults to the end.
 */
export function sliceAxis(
  g: GraphBuilder,
  x: string,
  axis: number,
  from: number | string,
  to: number | string = END,
  step = 1,
): string {
  const index = (v: number | string) => typeof v === "number" ? g.constInt([v]) : v;
  return g.op("Slice", [x, index(from), index(to), g.constInt([axis]), g.constInt([step])]);
}

/** `0, 1, ..., n-1` (int64) for `n` an int64 `[1]` value. */
export function arange(g: GraphBuilder, n: string): string {
  return g.op("Range", [g.constInt(0), g.op("Squeeze", [n, g.constInt([0])]), g.constInt(1)]);
}

/** A scalar fill value for `filled`. */
function fillValue(dtype: DType, value: number): TensorInit {
  const data = dtype === "int64"
    ? new BigInt64Array([BigInt(value)])
    : dtype === "float32"
    ? new Float32Array([value])
    : dtype === "int32"
    ? new Int32Array([value])
    : new Uint8Array([value]);
  return { dtype, dims: [1], data };
}

/** A tensor of shape `shape` (int64 1-D value) filled with `value` (default float32 zeros). */
export function filled(g: GraphBuilder, shape: string, value = 0, dtype: DType = "float32") {
  if (value === 0 && dtype === "float32") return g.op("ConstantOfShape", [shape]);
  return g.op("ConstantOfShape", [shape], { value: fillValue(dtype, value) });
}

/** `x` cast to `dtype`. */
export function cast(g: GraphBuilder, x: string, dtype: DType): string {
  return g.op("Cast", [x], { to: DTYPE_CODES[dtype] });
}

/**
 * `x` `[B, C, H, W]` resized to `sizes` (int64 `[4]`) bilinearly (half-pixel centres, no
 * antialiasing: opset 17 has none). ORT's cubic Resize took 30-67 ms for one 224-pixel image on
 * either backend, the linear one 0.5-2.7 ms; and from the 224-pixel crop down to 192 and 160
 * pixels, bilinear, bicubic and antialiased bicubic gave the same top-1 within 0.4 points
 * (docs/RESULTS.md, "Fewer patches").
 */
export function bilinear(g: GraphBuilder, x: string, sizes: string): string {
  return g.op("Resize", [x, "", "", sizes], {
    mode: "linear",
    coordinate_transformation_mode: "half_pixel",
  });
}
