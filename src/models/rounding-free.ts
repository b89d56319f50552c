// The part of a QDQ model's gradient that finite differences can check. Rounding makes the
// quantised forward pass piecewise constant, so its differences say nothing about the
// straight-through gradient the compiler gives it (rules/quantization.ts). The same graph with the
// rounding taken out is smooth where the rest of the model is: every QuantizeLinear→DequantizeLinear
// pair becomes the clamp it is without Round,
//
//   DQ(Q(x)) = (clamp(round(x/s) + z, qmin, qmax) − z′)·s′   →   (clamp(x/s + z, qmin, qmax) − z′)·s′,
//
// whose exact derivative is the straight-through estimator's (s′/s inside the range, 0 where Q
// saturates). Its gradient is compiled by the same rules as the model's, minus Q and DQ, and
// checked against its own finite differences; the Q/DQ rules themselves are checked against
// PyTorch's fake-quantize backward (test fixtures). Weights stored as integers (DequantizeLinear of
// an initializer) are constants and stay as they are.
import { getInt } from '../onnx/attributes.js';
import { type Graph, type Model, type Node } from '../onnx/ir.js';
import { type TensorFacts } from '../onnx/shapes.js';
import { DataType, floatTensor, tensorDims, tensorValues } from '../onnx/tensor.js';

/** Integer range of the zero point's type (no zero point: uint8, as ONNX defines). */
const RANGES: Record<number, [number, number]> = { [DataType.UINT8]: [0, 255], [DataType.INT8]: [-128, 127] };

export type RoundingFree = { model: Model; facts: TensorFacts; pairs: number } | { reason: string };

/**
 * The model with every Q→DQ pair replaced by its clamp, and its tensor facts with the clamps'
 * tensors (shaped like the quantised tensor); or why that cannot be done.
 */
export function withoutRounding(model: Model, facts: TensorFacts): RoundingFree {
  const { graph } = model;
  const shapes = new Map(facts.shapes);
  const types = new Map(facts.types);
  const consumers = new Map<string, Node[]>();
  for (const node of graph.nodes) for (const input of node.inputs) consumers.set(input, [...(consumers.get(input) ?? []), node]);
  const initializers = new Map(graph.initializers);
  const replaced = new Map<Node, Node[]>();
  const removed = new Set<Node>();
  let pairs = 0;
  for (const q of graph.nodes) {
    if (q.opType !== 'QuantizeLinear') continue;
    const users = consumers.get(q.outputs[0] ?? '') ?? [];
    if (users.length === 0 || users.some((u) => u.opType !== 'DequantizeLinear') || graph.outputs.some((o) => o.name === q.outputs[0]))
      return { reason: `QuantizeLinear ${q.name} feeds ops other than DequantizeLinear` };
    const x = q.inputs[0] as string;
    const rank = facts.shapes.get(x)?.length;
    const quantize = constants(graph, q, rank);
    if ('reason' in quantize) return quantize;
    removed.add(q);
    for (const dq of users) {
      const dequantize = constants(graph, dq, rank, quantize.type);
      if ('reason' in dequantize) return dequantize;
      const [lo, hi] = RANGES[quantize.type] as [number, number];
      const name = (what: string) => `rounding_free/${dq.name}/${what}`;
      const add = (what: string, dims: number[], values: number[]) => {
        initializers.set(name(what), floatTensor(name(what), dims, values));
        return name(what);
      };
      const node = (opType: string, inputs: string[], output: string): Node => ({ name: output, opType, domain: '', inputs, outputs: [output], attrs: {} });
      const [scaled, shifted, floor, clamped, centred] = ['scaled', 'shifted', 'floor', 'clamped', 'centred'].map(name) as [string, string, string, string, string];
      replaced.set(dq, [
        node('Div', [x, add('scale_q', quantize.dims, quantize.scale)], scaled),
        node('Add', [scaled, add('zero_q', quantize.dims, quantize.zero)], shifted),
        node('Max', [shifted, add('qmin', [], [lo])], floor),
        node('Min', [floor, add('qmax', [], [hi])], clamped),
        node('Sub', [clamped, add('zero_dq', dequantize.dims, dequantize.zero)], centred),
        node('Mul', [centred, add('scale_dq', dequantize.dims, dequantize.scale)], dq.outputs[0] as string),
      ]);
      for (const n of replaced.get(dq) ?? []) {
        const shape = facts.shapes.get(x);
        if (shape) shapes.set(n.outputs[0] as string, shape);
        types.set(n.outputs[0] as string, DataType.FLOAT);
      }
      pairs++;
    }
  }
  if (pairs === 0) return { reason: 'the model has no QuantizeLinear→DequantizeLinear pair' };
  const nodes = graph.nodes.flatMap((n) => (removed.has(n) ? [] : (replaced.get(n) ?? [n])));
  return { model: { ...model, graph: { ...graph, nodes, initializers } }, facts: { ...facts, shapes, types }, pairs };
}

interface QuantConstants {
  scale: number[];
  zero: number[];
  /** The integer type (the zero point's; uint8 without one). */
  type: number;
  /** Shape that broadcasts the values against the quantised tensor: [] per tensor, [C, 1, …] per axis. */
  dims: number[];
}

/** Scale and zero point of a Q or DQ node, read from its initializers. */
function constants(graph: Graph, node: Node, rank: number | undefined, expectedType?: number): QuantConstants | { reason: string } {
  const scale = graph.initializers.get(node.inputs[1] ?? '');
  const zero = node.inputs[2] ? graph.initializers.get(node.inputs[2]) : undefined;
  if (!scale || (node.inputs[2] && !zero)) return { reason: `${node.opType} ${node.name} has a computed scale or zero point` };
  const type = zero?.dataType ?? DataType.UINT8;
  if (!RANGES[type] || (expectedType !== undefined && type !== expectedType)) return { reason: `${node.opType} ${node.name} quantises to ONNX type ${type}` };
  if (node.attrs['block_size']) return { reason: `${node.opType} ${node.name} uses blocked quantization` };
  const values = tensorValues(scale);
  const dims = tensorDims(scale);
  if (values.length !== dims.reduce((a, b) => a * b, 1)) return { reason: `${node.opType} ${node.name}: its scale could not be read` };
  if (dims.length === 0) return { scale: values, zero: zero ? tensorValues(zero) : [0], type, dims: [] };
  // Per axis: [C] along `axis` (default 1) of x, so [C, 1, …] for the axes after it.
  if (rank === undefined) return { reason: `${node.opType} ${node.name} quantises per axis a tensor of unknown rank` };
  const axis = getInt(node.attrs, 'axis', 1);
  const trailing = rank - (axis < 0 ? axis + rank : axis) - 1;
  return { scale: values, zero: zero ? tensorValues(zero) : values.map(() => 0), type, dims: [values.length, ...Array<number>(trailing).fill(1)] };
}
