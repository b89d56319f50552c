// A model exported with a constant batch size (torch.onnx.export without dynamic_axes writes a
// batch of 1) made batch-symbolic: the input's and outputs' leading dimension becomes 'N', and each
// Reshape whose constant target shape starts with that batch size, applied to a tensor whose
// leading dimension is that batch size, copies the leading dimension instead (ONNX Reshape's 0).
// At the model's own batch size the result computes exactly what the original does; whether it
// is right at other sizes (no other op has the batch baked in) is for the caller to check by
// running it (src/runtime/shape-probe.ts does).
import { getInt } from './attributes.js';
import { type Model, type Node, type ValueInfo } from './ir.js';
import { int64Tensor, tensorValues } from './tensor.js';
import { BATCH } from './shapes.js';

/** The input's constant leading dimension, or undefined when it is symbolic or unknown. */
export function declaredBatch(model: Model, input: string): number | undefined {
  const d = model.graph.inputs.find((v) => v.name === input)?.dims?.[0];
  return typeof d === 'number' ? d : undefined;
}

function withSymbolicBatch(v: ValueInfo, batch: number): ValueInfo {
  if (!v.dims || v.dims[0] !== batch) return v;
  return { ...v, dims: [BATCH, ...v.dims.slice(1)] };
}

export interface RelaxedBatch {
  model: Model;
  /** Reshape nodes whose target shape had the batch size in it. */
  reshapes: string[];
}

/**
 * `leadingDim` gives a tensor's leading dimension when the original model runs at its batch size
 * (from a run of it); Reshapes of tensors whose leading dimension is not the batch keep theirs.
 */
export function relaxBatch(model: Model, input: string, batch: number, leadingDim: (tensor: string) => number | undefined): RelaxedBatch {
  const graph = model.graph;
  const initializers = new Map(graph.initializers);
  const constants = new Map<string, Node>();
  for (const n of graph.nodes) if (n.opType === 'Constant' && n.outputs[0]) constants.set(n.outputs[0], n);
  const valueOf = (tensor: string): number[] | undefined => {
    const t = initializers.get(tensor) ?? constants.get(tensor)?.attrs['value']?.t ?? undefined;
    return t ? tensorValues(t) : undefined;
  };
  const reshapes: string[] = [];
  const nodes = graph.nodes.map((node): Node => {
    if (node.opType !== 'Reshape' || (node.domain !== '' && node.domain !== 'ai.onnx')) return node;
    const data = node.inputs[0] ?? '';
    const shape = valueOf(node.inputs[1] ?? '');
    if (!shape || shape[0] !== batch || leadingDim(data) !== batch) return node;
    // 0 copies the input's dimension, unless allowzero (opset 14) makes it a literal 0: then -1.
    const allowZero = getInt(node.attrs, 'allowzero', 0) === 1;
    if (allowZero && shape.includes(-1)) return node;
    const name = `${node.inputs[1] ?? 'shape'}/symbolic_batch/${reshapes.length}`;
    initializers.set(name, int64Tensor(name, [shape.length], [allowZero ? -1 : 0, ...shape.slice(1)]));
    reshapes.push(node.name);
    return { ...node, inputs: [data, name] };
  });
  return {
    reshapes,
    model: {
      ...model,
      graph: {
        ...graph,
        nodes,
        initializers,
        inputs: graph.inputs.map((v) => (v.name === input ? withSymbolicBatch(v, batch) : v)),
        outputs: graph.outputs.map((v) => withSymbolicBatch(v, batch)),
      },
    },
  };
}
