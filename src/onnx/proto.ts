// ONNX protobuf I/O through `onnx-proto` (protobufjs static code for onnx.proto). On Node,
// protobufjs decodes `bytes` fields as views into the input buffer, so a 550 MB model's weights
// are not copied on load. Tensors stored as external data are read from files beside the model.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, relative } from 'node:path';
import onnxProto from 'onnx-proto';

export const onnx = onnxProto.onnx;
export type ModelProto = onnxProto.onnx.IModelProto;
export type GraphProto = onnxProto.onnx.IGraphProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;

export class OnnxFormatError extends Error {
  override name = 'OnnxFormatError';
}

/** Decodes an ONNX model from bytes; `baseDir` resolves external-data files. */
export function decodeModel(bytes: Uint8Array, baseDir?: string): ModelProto {
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new OnnxFormatError(`not an ONNX model: ${(err as Error).message}`);
  }
  if (!model.graph || (model.graph.node ?? []).length === 0) {
    throw new OnnxFormatError('not an ONNX model: it has no graph nodes');
  }
  if (baseDir !== undefined) inlineExternalData(model.graph, baseDir);
  return model;
}

export function readModel(path: string): ModelProto {
  return decodeModel(readFileSync(path), dirname(path));
}

export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.fromObject(model as Record<string, unknown>)).finish();
}

const EXTERNAL = 1; // TensorProto.DataLocation.EXTERNAL

/** Replaces external-data references by the bytes they point to (`location`, `offset`, `length`). */
function inlineExternalData(graph: GraphProto, baseDir: string): void {
  const files = new Map<string, Buffer>();
  for (const tensor of graph.initializer ?? []) {
    if (tensor.dataLocation !== EXTERNAL) continue;
    const entries = new Map((tensor.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = entries.get('location');
    if (!location) throw new OnnxFormatError(`tensor ${tensor.name}: external data without a location`);
    const path = normalize(join(baseDir, location));
    // External data must stay beside the model: a crafted model must not read arbitrary files.
    const rel = relative(baseDir, path);
    if (isAbsolute(location) || rel.startsWith('..')) {
      throw new OnnxFormatError(`tensor ${tensor.name}: external data path ${location} leaves the model's folder`);
    }
    let file = files.get(path);
    if (!file) {
      file = readFileSync(path);
      files.set(path, file);
    }
    const offset = Number(entries.get('offset') ?? 0);
    const length = entries.has('length') ? Number(entries.get('length')) : file.length - offset;
    if (offset + length > file.length) {
      throw new OnnxFormatError(`tensor ${tensor.name}: external data range exceeds ${location}`);
    }
    tensor.rawData = file.subarray(offset, offset + length);
    tensor.dataLocation = 0;
    tensor.externalData = [];
  }
}
