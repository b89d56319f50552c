// Shape propagation by probing: the forward model is run at batch 1 and batch 2 with every
// intermediate tensor as an output, and each dimension is classified as static or as a multiple
// of the batch size. ONNX Runtime already knows every op's shape semantics (including the shape
// arithmetic of transformer exports), so this is exact for the model as it will actually run.
import { type Model, modelToProto } from '../onnx/ir.js';
import { encodeModel } from '../onnx/proto.js';
import { type Dim, type TensorFacts, unifyDim } from '../onnx/shapes.js';
import { tensorDims } from '../onnx/tensor.js';
import { Session, elemTypeOf, type RawOutput } from './ort.js';

/** Largest integer tensor whose values are recorded (shape vectors, axes, pads). */
const MAX_VALUE_ELEMENTS = 64;

export class ShapeProbeError extends Error {
  override name = 'ShapeProbeError';
}

function randomInput(dims: number[], seed: number): Float32Array {
  // A fixed LCG: the probe only needs some finite values, the same each time.
  const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 2 ** 32 - 0.5;
  }
  return data;
}

/** The static per-sample shape of the model input: from the model, or given. */
export function sampleShape(model: Model, input: string, given?: number[]): number[] {
  if (given) return given;
  const info = model.graph.inputs.find((v) => v.name === input);
  const dims = info?.dims?.slice(1);
  if (!dims || dims.some((d) => typeof d !== 'number')) {
    throw new ShapeProbeError(`input ${input} has no static shape after the batch axis; pass the input shape (e.g. 3,224,224)`);
  }
  return dims as number[];
}

export interface ProbeOptions {
  input?: string;
  inputShape?: number[];
  threads?: number;
  /** Makes the probe's session (a model context shares its weight file with it); default: weights inline. */
  session?: (model: Model) => Promise<Session>;
}

export async function probeShapes(model: Model, options: ProbeOptions = {}): Promise<TensorFacts> {
  const input = options.input ?? model.graph.inputs[0]?.name;
  if (!input) throw new ShapeProbeError('the model has no input');
  const perSample = sampleShape(model, input, options.inputShape);
  const others = model.graph.inputs.filter((v) => v.name !== input);
  if (others.length > 0) throw new ShapeProbeError(`models with more than one input are not supported (${others.map((v) => v.name).join(', ')})`);

  // Every node output becomes a graph output (by name only; ORT infers their types).
  const tensors = [...new Set(model.graph.nodes.flatMap((n) => n.outputs).filter(Boolean))];
  const probe: Model = { ...model, graph: { ...model.graph, outputs: tensors.map((name) => ({ name, elemType: 0, dims: undefined })) } };
  const session = options.session ? await options.session(probe) : await Session.create(encodeModel(modelToProto(probe)), { threads: options.threads });
  try {
    const runs: Record<string, RawOutput>[] = [];
    for (const batch of [1, 2]) {
      const dims = [batch, ...perSample];
      runs.push(await session.runRaw({ [input]: { data: randomInput(dims, 7 + batch), dims } }));
    }
    const [one, two] = runs as [Record<string, RawOutput>, Record<string, RawOutput>];
    const facts: TensorFacts = { shapes: new Map(), values: new Map(), types: new Map() };
    facts.shapes.set(input, ['N', ...perSample]);
    facts.types.set(input, 1);
    for (const name of tensors) {
      const a = one[name];
      const b = two[name];
      if (!a || !b) continue;
      facts.types.set(name, elemTypeOf(a.type));
      if (a.dims.length !== b.dims.length) continue;
      const dims = a.dims.map((d, i) => unifyDim(d, b.dims[i] as number));
      if (dims.some((d) => d === undefined)) continue;
      facts.shapes.set(name, dims as Dim[]);
      if ((a.type === 'int64' || a.type === 'int32') && a.data.length <= MAX_VALUE_ELEMENTS && a.data.length === b.data.length) {
        const values = Array.from(a.data, (v, i) => unifyDim(Number(v), Number(b.data[i])));
        if (values.every((v) => v !== undefined)) facts.values.set(name, values as Dim[]);
      }
    }
    for (const [name, t] of model.graph.initializers) {
      facts.shapes.set(name, tensorDims(t));
      if (t.dataType) facts.types.set(name, t.dataType);
    }
    return facts;
  } finally {
    await session.release();
  }
}


