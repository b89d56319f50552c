// A small, readable graph IR over ONNX: nodes with named inputs/outputs, initializers by name.
// The compiler reads and extends it; `toProto` writes it back, keeping the model's metadata.
import { type Attributes } from './attributes.js';
import { type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto, OnnxFormatError } from './proto.js';
import { toNumber } from './tensor.js';

export interface Node {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Attributes;
}

/** A dimension: a number, a symbolic name such as 'N', or unknown. */
export type ValueDim = number | string | undefined;

export interface ValueInfo {
  name: string;
  elemType: number;
  dims: ValueDim[] | undefined;
}

export interface Graph {
  name: string;
  nodes: Node[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  initializers: Map<string, TensorProto>;
  /**
   * Known types and shapes of intermediate tensors. The compiler declares its cotangents' shapes
   * here: the runtime's own inference loses them behind Reshape/Expand with computed shapes, and
   * its layout optimiser needs equal shapes to keep elementwise ops in its blocked format.
   */
  valueInfo?: ValueInfo[];
}

export interface Model {
  graph: Graph;
  /** Version of the default ('' / 'ai.onnx') operator set. */
  opset: number;
  /** Everything else of the source model (producer, other opset imports, metadata). */
  proto: ModelProto;
  /**
   * Set on a graph built around a classifier (the gradient compiler's output and the method graphs
   * made from it): the tensors the classifier part reads (explained input, seed, injected
   * derivatives) and returns (logits, gradients, exposed tensors). float16.ts finds the part
   * between them by dataflow. Not written to the ONNX file.
   */
  boundary?: Boundary;
}

export interface Boundary {
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  /** The backward pass's seed, when the part has one. */
  seed?: string;
}

function valueInfoFromProto(v: ValueInfoProto): ValueInfo {
  const tensor = v.type?.tensorType;
  const dims = tensor?.shape?.dim?.map((d): ValueDim => {
    if (d.dimParam) return d.dimParam;
    if (d.dimValue !== undefined && d.dimValue !== null) return toNumber(d.dimValue);
    return undefined;
  });
  return { name: v.name ?? '', elemType: tensor?.elemType ?? 0, dims };
}

export function valueInfoToProto(v: ValueInfo): ValueInfoProto {
  // An output listed by name only: the runtime infers its type (used by the shape probe).
  if (v.elemType === 0) return { name: v.name };
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: v.elemType,
        shape: v.dims && {
          dim: v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {})),
        },
      },
    },
  };
}

function nodeFromProto(n: NodeProto, index: number): Node {
  const attrs: Attributes = {};
  for (const a of n.attribute ?? []) attrs[a.name ?? ''] = a;
  return {
    name: n.name || `${n.opType}_${index}`,
    opType: n.opType ?? '',
    domain: n.domain ?? '',
    inputs: [...(n.input ?? [])],
    outputs: [...(n.output ?? [])],
    attrs,
  };
}

export function nodeToProto(n: Node): NodeProto {
  return {
    name: n.name,
    opType: n.opType,
    domain: n.domain,
    input: n.inputs,
    output: n.outputs,
    attribute: Object.entries(n.attrs).map(([name, a]) => ({ ...a, name })),
  };
}

export function modelFromProto(proto: ModelProto): Model {
  const g = proto.graph;
  if (!g) throw new OnnxFormatError('the model has no graph');
  const opsetImport = (proto.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  if (!opsetImport) throw new OnnxFormatError('the model imports no default-domain operator set');
  const initializers = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  return {
    opset: toNumber(opsetImport.version),
    proto,
    graph: {
      name: g.name ?? 'graph',
      nodes: (g.node ?? []).map(nodeFromProto),
      // Some exporters list initializers among the inputs (IR < 4); they are not model inputs.
      inputs: (g.input ?? []).map(valueInfoFromProto).filter((v) => !initializers.has(v.name)),
      outputs: (g.output ?? []).map(valueInfoFromProto),
      initializers,
    },
  };
}

export function modelToProto(model: Model): ModelProto {
  const { graph } = model;
  return {
    ...model.proto,
    // Initializers as inputs need IR >= 4; everything we emit is valid at IR 7 (opset >= 11).
    irVersion: Math.max(toNumber(model.proto.irVersion), 7),
    opsetImport: [...(model.proto.opsetImport ?? []).filter((o) => o.domain && o.domain !== 'ai.onnx'), { domain: '', version: model.opset }],
    graph: {
      name: graph.name,
      node: graph.nodes.map(nodeToProto),
      input: graph.inputs.map(valueInfoToProto),
      output: graph.outputs.map(valueInfoToProto),
      initializer: [...graph.initializers.values()],
      ...(graph.valueInfo?.length ? { valueInfo: graph.valueInfo.map(valueInfoToProto) } : {}),
    },
  };
}

/** The node that produces each tensor. */
export function producers(graph: Graph): Map<string, Node> {
  const map = new Map<string, Node>();
  for (const node of graph.nodes) for (const out of node.outputs) if (out) map.set(out, node);
  return map;
}

/** How a precision pass rewrites each kind of typed thing in a graph. */
export interface TypeRewrite {
  tensor: (t: TensorProto) => TensorProto;
  info: (v: ValueInfo) => ValueInfo;
  attrs: (n: Node) => Attributes;
}

/** The graph with every initializer, node attribute set, and declared input, output and intermediate type rewritten. */
export function rewriteTypes(g: Graph, r: TypeRewrite): Graph {
  return {
    ...g,
    nodes: g.nodes.map((n) => ({ ...n, attrs: r.attrs(n) })),
    inputs: g.inputs.map(r.info),
    outputs: g.outputs.map(r.info),
    initializers: new Map([...g.initializers].map(([name, t]) => [name, r.tensor(t)])),
    ...(g.valueInfo ? { valueInfo: g.valueInfo.map(r.info) } : {}),
  };
}
