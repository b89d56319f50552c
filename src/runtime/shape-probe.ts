// Shape propagation by probing: the forward model is run at batch 1 and batch 2 with every
// intermediate tensor as an output, and each dimension is classified as static or as a multiple
// of the batch size. ONNX Runtime already knows every op's shape semantics (including the shape
// arithmetic of transformer exports), so this is exact for the model as it will actually run.
import { type Model, modelToProto } from '../onnx/ir.js';
import { declaredBatch, relaxBatch } from '../onnx/relax-batch.js';
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

/**
 * The static per-sample shape of the model input: the model's own dimensions, with symbolic ones
 * (e.g. H and W of [N,3,H,W]) taken from `given`. `given` is per sample (3,224,224) or includes
 * the batch (1,3,224,224); where the model has a number, `given` must agree with it.
 */
export function sampleShape(model: Model, input: string, given?: number[]): number[] {
  const info = model.graph.inputs.find((v) => v.name === input);
  const dims = info?.dims?.slice(1);
  if (!dims) {
    if (given) return given;
    throw new ShapeProbeError(`input ${input} declares no shape; pass the input shape (e.g. 3,224,224)`);
  }
  const perSample = given && given.length === dims.length + 1 ? given.slice(1) : given;
  if (perSample) {
    const mismatch = perSample.length !== dims.length || dims.some((d, i) => typeof d === 'number' && d !== perSample[i]);
    if (mismatch)
      throw new ShapeProbeError(
        `input shape [${given?.join(',')}] does not fit input ${input}: the model expects [${(info?.dims ?? []).map((d) => d ?? '?').join(',')}]`,
      );
    return perSample;
  }
  if (dims.some((d) => typeof d !== 'number')) {
    throw new ShapeProbeError(
      `input ${input} has symbolic dimensions [${(info?.dims ?? []).map((d) => d ?? '?').join(',')}]; pass the input shape (e.g. 3,224,224): the service takes it from the manifest, \`saliency explain\` from the input, \`saliency compile\` from --input-shape`,
    );
  }
  return dims as number[];
}

export interface ProbeOptions {
  input?: string;
  inputShape?: number[];
  threads?: number;
  /**
   * The model's own constant batch size, when it cannot run at any other (batching 'fixed'): the
   * probe then runs once, at that size, and no dimension is symbolic.
   */
  fixedBatch?: number;
  /** Makes the probe's session (a model context shares its weight file with it); default: weights inline. */
  session?: (model: Model) => Promise<Session>;
}

/** Every node output of the model, and a session that fetches them all (by name; ORT infers types). */
async function everythingSession(
  model: Model,
  threads: number | undefined,
  makeSession?: (model: Model) => Promise<Session>,
): Promise<{ tensors: string[]; session: Session }> {
  const tensors = [...new Set(model.graph.nodes.flatMap((n) => n.outputs).filter(Boolean))];
  const probe: Model = { ...model, graph: { ...model.graph, outputs: tensors.map((name) => ({ name, elemType: 0, dims: undefined })) } };
  const session = makeSession ? await makeSession(probe) : await Session.create(encodeModel(modelToProto(probe)), { threads });
  return { tensors, session };
}

function onlyInput(model: Model, input: string | undefined): string {
  if (!input) throw new ShapeProbeError('the model has no input');
  const others = model.graph.inputs.filter((v) => v.name !== input);
  if (others.length > 0) throw new ShapeProbeError(`models with more than one input are not supported (${others.map((v) => v.name).join(', ')})`);
  return input;
}

export async function probeShapes(model: Model, options: ProbeOptions = {}): Promise<TensorFacts> {
  const input = onlyInput(model, options.input ?? model.graph.inputs[0]?.name);
  const perSample = sampleShape(model, input, options.inputShape);
  const { tensors, session } = await everythingSession(model, options.threads, options.session);
  try {
    const batches = options.fixedBatch === undefined ? [1, 2] : [options.fixedBatch];
    const runs: Record<string, RawOutput>[] = [];
    for (const batch of batches) {
      const dims = [batch, ...perSample];
      runs.push(await session.runRaw({ [input]: { data: randomInput(dims, 7 + batch), dims } }));
    }
    const one = runs[0] as Record<string, RawOutput>;
    const two = runs[runs.length - 1] as Record<string, RawOutput>;
    const facts: TensorFacts = { shapes: new Map(), values: new Map(), types: new Map() };
    facts.shapes.set(input, [options.fixedBatch ?? 'N', ...perSample]);
    facts.types.set(input, 1);
    for (const name of tensors) {
      const a = one[name];
      const b = two[name];
      if (!a || !b) continue;
      facts.types.set(name, elemTypeOf(a.type));
      if (a.dims.length !== b.dims.length) continue;
      const dims = a.dims.map((d, i) => (a === b ? d : unifyDim(d, b.dims[i] as number)));
      if (dims.some((d) => d === undefined)) continue;
      facts.shapes.set(name, dims as Dim[]);
      if ((a.type === 'int64' || a.type === 'int32') && a.data.length <= MAX_VALUE_ELEMENTS && a.data.length === b.data.length) {
        const values = Array.from(a.data, (v, i) => (a === b ? Number(v) : unifyDim(Number(v), Number(b.data[i]))));
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

export interface BatchShape {
  /** The model to compile: batch-symbolic where that was possible. */
  model: Model;
  /** 'dynamic': runs at any batch size; 'fixed': only at `fixedBatch`, the file's own. */
  batching: 'dynamic' | 'fixed';
  fixedBatch?: number;
}

/** Relative L2 distance, with 0 for two zero vectors. */
function distance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += ((a[i] as number) - (b[i] as number)) ** 2;
    norm += (b[i] as number) ** 2;
  }
  return norm === 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
}

/**
 * A model whose input has a constant batch size: made batch-symbolic (src/onnx/relax-batch.ts)
 * when the result, run on two batches at once, returns exactly the two batches' own outputs
 * (up to float rounding); otherwise the model keeps its batch ('fixed') and the methods run it at
 * that size. A model with a symbolic batch comes back unchanged.
 */
export async function symbolicBatch(model: Model, options: { input?: string; inputShape?: number[]; threads?: number } = {}): Promise<BatchShape> {
  const input = onlyInput(model, options.input ?? model.graph.inputs[0]?.name);
  const batch = declaredBatch(model, input);
  if (batch === undefined) return { model, batching: 'dynamic' };
  const perSample = sampleShape(model, input, options.inputShape);
  const dims = [batch, ...perSample];
  const xa = randomInput(dims, 11);
  const xb = randomInput(dims, 13);

  const { session: everything } = await everythingSession(model, options.threads);
  let leading: Map<string, number>;
  try {
    const run = await everything.runRaw({ [input]: { data: xa, dims } });
    leading = new Map(Object.entries(run).flatMap(([name, t]) => (t.dims.length > 0 ? [[name, t.dims[0] as number]] : [])));
  } finally {
    await everything.release();
  }
  const relaxed = relaxBatch(model, input, batch, (t) => leading.get(t)).model;
  const fixed: BatchShape = { model, batching: 'fixed', fixedBatch: batch };
  let session: Session;
  try {
    session = await Session.create(encodeModel(modelToProto(relaxed)), { threads: options.threads, quiet: true });
  } catch {
    return fixed;
  }
  try {
    const a = await session.runRaw({ [input]: { data: xa, dims } });
    const b = await session.runRaw({ [input]: { data: xb, dims } });
    const both = new Float32Array(2 * xa.length);
    both.set(xa);
    both.set(xb, xa.length);
    const ab = await session.runRaw({ [input]: { data: both, dims: [2 * batch, ...perSample] } });
    for (const out of relaxed.graph.outputs) {
      const [one, two, joint] = [a[out.name], b[out.name], ab[out.name]];
      if (!one || !two || !joint || one.type !== 'float32' || joint.dims[0] !== 2 * batch) return fixed;
      const expected = new Float32Array(one.data.length + two.data.length);
      expected.set(one.data as Float32Array);
      expected.set(two.data as Float32Array, one.data.length);
      if (joint.data.length !== expected.length || distance(joint.data as Float32Array, expected) > 1e-5) return fixed;
    }
    return { model: relaxed, batching: 'dynamic' };
  } catch {
    // The runtime refused the other batch size: something else has the batch baked in.
    return fixed;
  } finally {
    await session.release();
  }
}
