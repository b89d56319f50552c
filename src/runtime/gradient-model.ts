// Loads an ONNX classifier and prepares what explaining it needs: the forward session (logits,
// target choice) and the compiled gradient session, both from one probe of its shapes.
import { CompileError, type CompileResult, compileGradient } from '../gradgraph/index.js';
import { computeInFloat32 } from '../onnx/float32.js';
import { type Model, modelFromProto, modelToProto } from '../onnx/ir.js';
import { normaliseOpset, OpsetUpgradeError } from '../onnx/normalise-opset.js';
import { encodeModel, readModel } from '../onnx/proto.js';
import { type BackwardPolicy } from '../gradgraph/policy.js';
import { type TensorFacts } from '../onnx/shapes.js';
import { Session, type SessionOptions } from './ort.js';
import { probeShapes, symbolicBatch } from './shape-probe.js';

export interface LoadedModel {
  /**
   * The model as every session runs it: old op forms normalised (normalise-opset.ts), and
   * float16/bfloat16/float64 models rewritten to compute in float32 (float32.ts).
   */
  model: Model;
  /** ONNX element types the model was stored in and now computes in float32 (empty: float32 already). */
  convertedFrom: number[];
  /** The opset the file declares (model.opset may be newer after the upgrade). */
  originalOpset: number;
  /**
   * 'dynamic': any batch size (the file's, or one made symbolic, see relax-batch.ts); 'fixed': the
   * graph only runs at `fixedBatch` points, and every method's runs respect that.
   */
  batching: 'dynamic' | 'fixed';
  fixedBatch?: number;
  facts: TensorFacts;
  input: string;
  /** Per-sample input shape (without the batch axis). */
  sampleShape: number[];
}

export interface PrepareOptions {
  inputShape?: number[];
  threads?: number;
  /** Facts from an earlier probe of the same model (the compile cache): skips probing. */
  facts?: TensorFacts;
  /** Graph input to explain; default the first. */
  input?: string;
  /** Makes the shape probe's session (see shape-probe.ts). */
  probeSession?: (model: Model) => Promise<Session>;
}

export async function loadModel(path: string, options: PrepareOptions = {}): Promise<LoadedModel> {
  return prepareModel(modelFromProto(readModel(path)), options);
}

/** Probes an in-memory model's shapes once (unless facts are given). */
export async function prepareModel(source: Model, options: PrepareOptions = {}): Promise<LoadedModel> {
  const { model: upgraded, originalOpset } = normalised(source);
  const { model: float32, from: convertedFrom } = computeInFloat32(upgraded);
  const input = options.input ?? upgraded.graph.inputs[0]?.name ?? '';
  const { inputShape, threads } = options;
  const { model, batching, fixedBatch } = await symbolicBatch(float32, { input, inputShape, threads });
  if (fixedBatch !== undefined && fixedBatch !== 1) {
    throw new CompileError(
      `the model only runs at its batch size ${fixedBatch}, which is baked into its graph beyond its Reshape shapes; re-export it with a dynamic batch axis (torch.onnx.export(..., dynamic_axes={input: {0: 'N'}})) or at batch size 1`,
    );
  }
  const facts = options.facts ?? (await probeShapes(model, { input, inputShape, threads, fixedBatch, session: options.probeSession }));
  const sampleShape = (facts.shapes.get(input) ?? []).slice(1) as number[];
  return { model, originalOpset, convertedFrom, batching, ...(fixedBatch !== undefined && { fixedBatch }), facts, input, sampleShape };
}

function normalised(model: Model): { model: Model; originalOpset: number } {
  try {
    return normaliseOpset(model);
  } catch (err) {
    // A model the upgrade cannot express is unsupported like a model with an op without a rule.
    if (err instanceof OpsetUpgradeError) throw new CompileError(err.message);
    throw err;
  }
}

export async function compileSession(
  loaded: LoadedModel,
  options: SessionOptions & { policy?: BackwardPolicy } = {},
): Promise<{ compiled: CompileResult; session: Session }> {
  const compiled = compileGradient(loaded.model, { facts: loaded.facts, input: loaded.input, policy: options.policy });
  const session = await Session.create(encodeModel(modelToProto(compiled.model)), options);
  return { compiled, session };
}

/** The forward model returning `output` (an intermediate such as the logits before a Softmax). */
export async function forwardSession(loaded: LoadedModel, output: string, options: SessionOptions = {}): Promise<Session> {
  const graph = { ...loaded.model.graph, outputs: [{ name: output, elemType: 1, dims: loaded.facts.shapes.get(output) }] };
  return Session.create(encodeModel(modelToProto({ ...loaded.model, graph })), options);
}
