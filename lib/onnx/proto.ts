/**
 * The subset of `onnx.proto` (IR version 8) that the graph builder writes, loaded into
 * protobufjs, and the model rewrite that hands its weights to onnxruntime-web outside the graph.
 * Field numbers are ONNX's own, so the bytes are a standard ONNX model.
 * @module
 */
import protobuf from "protobufjs";

const SCHEMA = `
syntax = "proto3";
package onnx;
message AttributeProto {
  string name = 1; float f = 2; int64 i = 3; bytes s = 4; TensorProto t = 5; GraphProto g = 6;
  repeated float floats = 7; repeated int64 ints = 8; repeated bytes strings = 9; int32 type = 20;
}
message ValueInfoProto { string name = 1; TypeProto type = 2; }
message NodeProto {
  repeated string input = 1; repeated string output = 2; string name = 3; string op_type = 4;
  repeated AttributeProto attribute = 5; string domain = 7;
}
message ModelProto {
  int64 ir_version = 1; string producer_name = 2; string producer_version = 3;
  GraphProto graph = 7; repeated OperatorSetIdProto opset_import = 8;
}
message GraphProto {
  repeated NodeProto node = 1; string name = 2; repeated TensorProto initializer = 5;
  repeated ValueInfoProto input = 11; repeated ValueInfoProto output = 12;
}
message TensorProto {
  repeated int64 dims = 1; int32 data_type = 2; string name = 8; bytes raw_data = 9;
  repeated StringStringEntryProto external_data = 13; int32 data_location = 14;
}
message StringStringEntryProto { string key = 1; string value = 2; }
message TensorShapeProto {
  message Dimension { oneof value { int64 dim_value = 1; string dim_param = 2; } }
  repeated Dimension dim = 1;
}
message TypeProto {
  message Tensor { int32 elem_type = 1; TensorShapeProto shape = 2; }
  oneof value { Tensor tensor_type = 1; }
}
message OperatorSetIdProto { string domain = 1; int64 version = 2; }
`;

/** The protobufjs type of an ONNX `ModelProto`. */
export const ModelProto: protobuf.Type = protobuf.parse(SCHEMA, { keepCase: true }).root
  .lookupType("onnx.ModelProto");

/** One initializer's data outside the graph: an entry of onnxruntime's `externalData` option. */
export interface ExternalFile {
  /** The name the graph's tensor gives as its `location`. */
  path: string;
  data: Uint8Array;
}

/** ONNX's `TensorProto.DataLocation.EXTERNAL`. */
const EXTERNAL = 1;

interface TensorMessage {
  raw_data?: Uint8Array;
  external_data?: { key: string; value: string }[];
  data_location?: number;
}
interface GraphMessage {
  initializer?: TensorMessage[];
  node?: { attribute?: { g?: GraphMessage }[] }[];
}

/**
 * `model` with the data of every initializer of at least `minBytes` bytes moved out of the graph
 * (subgraphs included): each such tensor names a file instead, and the files are returned with
 * their data (views of `model`'s bytes, not copies). onnxruntime-web copies a model into its WASM
 * memory, which never shrinks; given this way, the weights reach that memory once (into their
 * tensors) rather than twice (with the model first).
 *
 * @example
 * ```ts
 * const { graph, files } = weightsOutside(model);
 * const session = await ort.InferenceSession.create(graph, { externalData: files });
 * ```
 */
export function weightsOutside(
  model: Uint8Array,
  minBytes = 1024,
): { graph: Uint8Array; files: ExternalFile[] } {
  const message = ModelProto.decode(model) as unknown as { graph?: GraphMessage };
  const files: ExternalFile[] = [];
  const visit = (graph: GraphMessage) => {
    for (const t of graph.initializer ?? []) {
      const data = t.raw_data;
      if (!data || data.byteLength < minBytes) continue;
      const path = `weights-${files.length}`;
      files.push({ path, data });
      t.raw_data = new Uint8Array(0);
      t.data_location = EXTERNAL;
      t.external_data = [
        { key: "location", value: path },
        { key: "offset", value: "0" },
        { key: "length", value: String(data.byteLength) },
      ];
    }
    for (const node of graph.node ?? []) {
      for (const a of node.attribute ?? []) if (a.g) visit(a.g);
    }
  };
  if (message.graph) visit(message.graph);
  return { graph: ModelProto.encode(message).finish(), files };
}
