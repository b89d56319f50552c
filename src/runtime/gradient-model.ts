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
export async function prepareModel(model: Model, options: PrepareOptions = {}): Promise<LoadedModel> {
  const input = options.input ?? model.graph.inputs[0]?.name ?? '';
  const facts = options.facts ?? (await probeShapes(model, { input, inputShape: options.inputShape, threads: options.threads, session: options.probeSession }));
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
