// A graph rewrite for methods whose weights vary per run (NoiseGrad, FusionGrad): chosen float
// initializers become graph inputs of the same name, so every run can feed its own copy of the
// weights to one session, and the gradient compiler (which bakes constant weights into some
// backward nodes, e.g. a flipped Conv kernel) sees them as runtime tensors and emits rules that
// read them. Done on the forward model, before compiling.
import { type Model, type ValueInfo } from '../onnx/ir.js';
import { DataType, floatValues, tensorDims } from '../onnx/tensor.js';

/** Which operand slots hold an op's weights (Bykov et al. perturb every parameter). */
const WEIGHT_SLOTS: Record<string, readonly number[]> = {
  Conv: [1, 2],
  ConvTranspose: [1, 2],
  Gemm: [1, 2],
  MatMul: [0, 1],
  BatchNormalization: [1, 2], // scale and bias; the running mean and variance are statistics
};

export interface LiftOptions {
  /** Leave the classifier head (the last Gemm/MatMul before the output) unperturbed. */
  excludeHead?: boolean;
}

/** The float initializers NoiseGrad perturbs, in graph order (deduplicated). */
export function weightInitializers(model: Model, options: LiftOptions = {}): string[] {
  const { graph } = model;
  let head: number | undefined;
  if (options.excludeHead) {
    for (let i = graph.nodes.length - 1; i >= 0; i--) {
      const op = graph.nodes[i]?.opType;
      if (op === 'Gemm' || op === 'MatMul') {
        head = i;
        break;
      }
    }
  }
  const names: string[] = [];
  graph.nodes.forEach((node, i) => {
    if (i === head) return;
    for (const slot of WEIGHT_SLOTS[node.opType] ?? []) {
      const name = node.inputs[slot];
      const init = name ? graph.initializers.get(name) : undefined;
      if (name && init && init.dataType === DataType.FLOAT && !names.includes(name)) names.push(name);
    }
  });
  return names;
}

/** The model with `names` moved from its initializers to its graph inputs. */
export function liftInitializers(model: Model, names: readonly string[]): Model {
  const initializers = new Map(model.graph.initializers);
  const inputs: ValueInfo[] = [];
  for (const name of names) {
    const init = initializers.get(name);
    if (!init) throw new Error(`${name} is not an initializer of this model`);
    initializers.delete(name);
    inputs.push({ name, elemType: DataType.FLOAT, dims: tensorDims(init) });
  }
  return { ...model, graph: { ...model.graph, initializers, inputs: [...model.graph.inputs, ...inputs] } };
}

/** The clean values of the lifted weights (float32, in `names` order). */
export function initializerValues(model: Model, names: readonly string[]): { name: string; values: Float32Array; dims: number[] }[] {
  return names.map((name) => {
    const init = model.graph.initializers.get(name);
    if (!init) throw new Error(`${name} is not an initializer of this model`);
    return { name, values: Float32Array.from(floatValues(init)), dims: tensorDims(init) };
  });
}
