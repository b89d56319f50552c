// Loads an ONNX classifier and prepares what explaining it needs: the forward session (logits,
// target choice) and the compiled gradient session, both from one probe of its shapes.
import { type CompileResult, compileGradient } from '../gradgraph/index.js';
import { type Model, modelFromProto, modelToProto } from '../onnx/ir.js';
import { encodeModel, readModel } from '../onnx/proto.js';
import { type BackwardPolicy } from '../gradgraph/policy.js';
import { type TensorFacts } from '../onnx/shapes.js';
import { Session, type SessionOptions } from './ort.js';
import { probeShapes } from './shape-probe.js';

export interface LoadedModel {
  model: Model;
  facts: TensorFacts;
  input: string;
  /** Per-sample input shape (without the batch axis). */
  sampleShape: number[];
}

export async function loadModel(path: string, options: { inputShape?: number[]; threads?: number } = {}): Promise<LoadedModel> {
  return prepareModel(modelFromProto(readModel(path)), options);
}

/** Probes an in-memory model's shapes once. */
export async function prepareModel(model: Model, options: { inputShape?: number[]; threads?: number } = {}): Promise<LoadedModel> {
  const input = model.graph.inputs[0]?.name ?? '';
  const facts = await probeShapes(model, { input, ...options });
  const sampleShape = (facts.shapes.get(input) ?? []).slice(1) as number[];
  return { model, facts, input, sampleShape };
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
