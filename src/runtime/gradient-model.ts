// Loads an ONNX classifier and prepares what explaining it needs: the forward session (logits,
// target choice) and the compiled gradient session, both from one probe of its shapes.
import { type CompileResult, compileGradient } from '../gradgraph/index.js';
import { computeInFloat32 } from '../onnx/float32.js';
import { type Model, modelFromProto, modelToProto } from '../onnx/ir.js';
import { encodeModel, readModel } from '../onnx/proto.js';
import { type BackwardPolicy } from '../gradgraph/policy.js';
import { type TensorFacts } from '../onnx/shapes.js';
import { Session, type SessionOptions } from './ort.js';
import { probeShapes } from './shape-probe.js';

export interface LoadedModel {
  /** The model as it runs: float16/bfloat16/float64 models rewritten to float32 (computeInFloat32). */
  model: Model;
  /** ONNX element types the model was stored in and now computes in float32 (empty: float32 already). */
  convertedFrom: number[];
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
}

export async function loadModel(path: string, options: PrepareOptions = {}): Promise<LoadedModel> {
  return prepareModel(modelFromProto(readModel(path)), options);
}

/** Probes an in-memory model's shapes once (unless facts are given). */
export async function prepareModel(source: Model, options: PrepareOptions = {}): Promise<LoadedModel> {
  const { model, from: convertedFrom } = computeInFloat32(source);
  const input = options.input ?? model.graph.inputs[0]?.name ?? '';
  const facts = options.facts ?? (await probeShapes(model, { input, inputShape: options.inputShape, threads: options.threads }));
  const sampleShape = (facts.shapes.get(input) ?? []).slice(1) as number[];
  return { model, convertedFrom, facts, input, sampleShape };
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
