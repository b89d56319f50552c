// The gradient compiler: ONNX classifier → ONNX model that also returns ∂(Σ seed·y)/∂x.
// Reverse-mode accumulation over the forward graph, pruned to the nodes on a path from the
// explained input to the explained output, with one backward rule per op (rules/).
import { attr } from '../onnx/attributes.js';
import { GraphBuilder } from '../onnx/builder.js';
import { capturedTensors, inlineConstantIfs } from '../onnx/control-flow.js';
import { type Graph, type Model, type Node, type ValueInfo, producers } from '../onnx/ir.js';
import { type Dim, type TensorFacts } from '../onnx/shapes.js';
import { DataType, tensorValues } from '../onnx/tensor.js';
import { type BackwardPolicy } from './policy.js';
import { CompileError, type GradRule, type Region, type RuleContext } from './rule.js';
import { NON_DIFFERENTIABLE, lookupRule } from './rules/index.js';

export interface CompileOptions {
  /** Tensor facts (shapes, small constant values) from the shape probe. */
  facts: TensorFacts;
  /** Graph input to explain; default: the first one. */
  input?: string;
  /** Graph output to explain; default: the first one. */
  output?: string;
  /** If the explained output is a Softmax, explain its input (the logits). Default true. */
  explainSoftmaxInput?: boolean;
  policy?: BackwardPolicy;
  /**
   * The graph may also be turned into float16 (onnx/float16.ts): rules then keep their constants
   * within float16's range (the ReLU mask as Greater + Cast instead of Clip(2^127·y, 0, 1)).
   */
  float16?: boolean;
}

/** An extra graph input or output that a policy added (injected or exposed derivatives). */
export interface DerivativeTensor {
  name: string;
  node: string;
  opType: string;
  key: string;
  /** Shape of the derivative (what is injected). */
  shape: Dim[];
  /** Set when the exposed tensor holds class indices (int64, `shape` without `axis`): see OneHotDerivative. */
  oneHot?: { axis: number; classes: number };
}

export interface CompileResult {
  model: Model;
  input: string;
  /** The explained tensor (the logits when a trailing Softmax was skipped). */
  explained: string;
  seed: string;
  /** The input gradient's output name; absent when a stopAt policy ends the sweep before it. */
  gradient: string | undefined;
  exposed: { tensor: string; gradient: string }[];
  derivatives: DerivativeTensor[];
  summary: { opsSeen: string[]; nodesOnPath: number; nodesAdded: number; inputs: string[]; outputs: string[] };
  /** What the gradient approximates, one line per kind (GradRule.approximation), e.g. straight-through quantization. */
  approximations: string[];
}

export const SEED = 'seed';

/** The input gradient's output name, for graphs compiled without a stopAt policy. */
export function inputGradient(result: CompileResult): string {
  if (!result.gradient) throw new CompileError(`the graph has no gradient for ${result.input} (the sweep stops before it)`);
  return result.gradient;
}
export const gradName = (tensor: string) => `grad_${tensor}`;

/** The tensor to explain: the requested output, or the input of a trailing Softmax. */
function explainedTensor(graph: Graph, output: string, skipSoftmax: boolean): string {
  const producedBy = producers(graph);
  let tensor = output;
  for (let node = producedBy.get(tensor); node && node.opType === 'Identity'; node = producedBy.get(tensor)) {
    tensor = node.inputs[0] ?? tensor;
  }
  const last = producedBy.get(tensor);
  return skipSoftmax && last?.opType === 'Softmax' && last.inputs[0] ? last.inputs[0] : output;
}

function differentiableInputs(node: Node, rule: GradRule | undefined): number[] {
  const all = node.inputs.map((_, i) => i);
  const allowed = rule?.differentiable ?? all;
  return allowed.filter((i) => Boolean(node.inputs[i]));
}

function isFloat(facts: TensorFacts, tensor: string): boolean {
  const type = facts.types.get(tensor);
  return type === undefined || type === DataType.FLOAT || type === DataType.DOUBLE || type === DataType.FLOAT16;
}

export function compileGradient(source: Model, options: CompileOptions): CompileResult {
  const { facts, policy = {} } = options;
  const graph: Graph = inlineConstantIfs(
    {
      ...source.graph,
      nodes: [...source.graph.nodes],
      initializers: new Map(source.graph.initializers),
      inputs: [...source.graph.inputs],
      outputs: [...source.graph.outputs],
    },
    facts,
  );
  const inputInfo = options.input ? graph.inputs.find((v) => v.name === options.input) : graph.inputs[0];
  if (!inputInfo) throw new CompileError(`the model has no input ${options.input ?? ''}`.trim());
  const outputInfo = options.output ? graph.outputs.find((v) => v.name === options.output) : graph.outputs[0];
  if (!outputInfo) throw new CompileError(`the model has no output ${options.output ?? ''}`.trim());
  if (source.opset < 11) {
    // Loading a model upgrades older opsets (src/onnx/normalise-opset.ts); the rules assume it.
    throw new CompileError(`opset ${source.opset}: upgrade the model's op forms first (normaliseOpset)`);
  }
  const x = inputInfo.name;
  const explained = explainedTensor(graph, outputInfo.name, options.explainSoftmaxInput ?? true);
  const ruleFor = (node: Node): GradRule | undefined => lookupRule(node, policy.overrides);

  // Forward walk: tensors that depend on x through differentiable inputs.
  const active = new Set<string>([x]);
  // Control flow that reads an active tensor inside its subgraph (an If not inlined): refused
  // below if the output depends on it, never passed by.
  const capturing = new Set<Node>();
  for (const node of graph.nodes) {
    if (NON_DIFFERENTIABLE.has(node.opType)) continue;
    const rule = ruleFor(node);
    if (capturedTensors(node).some((t) => active.has(t))) capturing.add(node);
    else if (!differentiableInputs(node, rule).some((i) => active.has(node.inputs[i] as string))) continue;
    for (const out of node.outputs) if (out && (isFloat(facts, out) || rule?.quantizedOutputs)) active.add(out);
  }
  if (!active.has(explained)) throw new CompileError(`output ${explained} does not depend on input ${x}`);

  // Backward walk: of those, the ones the explained output depends on.
  const stopAt = new Set(policy.stopAt ?? []);
  const needed = new Set<string>([explained, ...(policy.expose ?? [])]);
  const onPath: Node[] = [];
  for (let k = graph.nodes.length - 1; k >= 0; k--) {
    const node = graph.nodes[k] as Node;
    if (!node.outputs.some((o) => needed.has(o) && active.has(o) && !stopAt.has(o))) continue;
    if (capturing.has(node)) {
      throw new CompileError(
        `${node.opType} (node ${node.name}) reads the differentiated input inside its subgraph, with a condition not known at compile time: control flow on the explained path is not supported`,
      );
    }
    const rule = ruleFor(node);
    const inputs = differentiableInputs(node, rule).filter((i) => active.has(node.inputs[i] as string));
    if (inputs.length === 0) continue;
    onPath.push(node);
    for (const i of inputs) needed.add(node.inputs[i] as string);
  }
  const unsupported = onPath.filter((n) => !ruleFor(n));
  if (unsupported.length > 0) throw new CompileError(unsupportedMessage(unsupported.reverse(), x, explained, source.opset));
  for (const t of policy.expose ?? []) {
    if (!active.has(t)) throw new CompileError(`tensor ${t} to expose does not depend on input ${x}`);
  }

  const b = new GraphBuilder(graph, source.opset);
  const declared = new Map<string, ValueInfo>();
  const graphNames = new Set([SEED, ...[...graph.inputs, ...graph.outputs].map((v) => v.name)]);
  const contributions = new Map<string, string[]>([[explained, [SEED]]]);
  const summed = new Map<string, string>();
  const gradOf = (tensor: string): string | undefined => {
    const done = summed.get(tensor);
    if (done) return done;
    const terms = contributions.get(tensor);
    if (!terms || terms.length === 0) return undefined;
    const total = concatenatedParts(tensor, terms) ?? b.sum(terms);
    summed.set(tensor, total);
    // A cotangent has its tensor's shape: tell the runtime (see Graph.valueInfo).
    if (!declared.has(total) && !graphNames.has(total)) declared.set(total, floatInfo(total, facts, tensor));
    return total;
  };

  // Contributions that are one part of the tensor along an axis, zero-padded (Slice's rule).
  const regions = new Map<string, Region>();
  const concatenatedParts = (tensor: string, terms: string[]): string | undefined => {
    if (terms.length < 2 || !terms.every((t) => regions.has(t))) return undefined;
    const parts = terms.map((t) => regions.get(t) as Region).sort((p, q) => p.start - q.start);
    const axis = parts[0]?.axis as number;
    const size = facts.shapes.get(tensor)?.[axis];
    const tiles = parts.every((p, k) => p.axis === axis && p.start === (k === 0 ? 0 : parts[k - 1]?.end));
    if (!tiles || parts[parts.length - 1]?.end !== size) return undefined;
    // The padded copies are dead now: drop them (their Pad nodes read only the parts).
    const dead = new Set(terms);
    for (let k = b.nodes.length - 1; k >= 0; k--) if (b.nodes[k]?.outputs.some((o) => dead.has(o))) b.nodes.splice(k, 1);
    return b.op(
      'Concat',
      parts.map((p) => p.part),
      { axis: attr.int(axis) },
    );
  };

  const constantNodes = new Map<string, Node>();
  for (const node of graph.nodes) if (node.opType === 'Constant' && node.outputs[0]) constantNodes.set(node.outputs[0], node);
  const constant = (tensor: string): Dim[] | undefined => {
    const init = graph.initializers.get(tensor);
    if (init) return tensorValues(init);
    const c = constantNodes.get(tensor)?.attrs['value']?.t;
    if (c) return tensorValues(c);
    return facts.values.get(tensor);
  };

  const derivatives: DerivativeTensor[] = [];
  const extraInputs: ValueInfo[] = [];
  const extraOutputs: ValueInfo[] = [];

  for (const node of onPath) {
    const rule = ruleFor(node) as GradRule;
    if (!node.outputs.some((o) => gradOf(o))) continue;
    const ctx: RuleContext = {
      node,
      b,
      opset: source.opset,
      attrs: node.attrs,
      input: (i) => node.inputs[i] ?? '',
      output: (i) => node.outputs[i] ?? '',
      shape: (tensor) => {
        const s = facts.shapes.get(tensor);
        if (!s) throw new CompileError(`${node.opType} (node ${node.name}): shape of ${tensor} is unknown`);
        return s;
      },
      constant,
      initializer: (tensor) => graph.initializers.get(tensor),
      derivativesObserved: Boolean(policy.derivatives && (policy.derivatives.select?.(node) ?? true)),
      float16: options.float16 ?? false,
      requireConstant: (tensor, what) => {
        const v = constant(tensor);
        if (!v || v.some((d) => typeof d !== 'number')) {
          throw new CompileError(`${node.opType} (node ${node.name}): ${what} must be a compile-time constant`);
        }
        return v as number[];
      },
      gradOut: (i) => gradOf(node.outputs[i] ?? ''),
      cotangent: (i) => gradOf(node.outputs[i] ?? '') ?? ctx.fail(`the rule needs a cotangent of output ${i}, and nothing depends on it`),
      gradOutOrZeros: (i) => gradOf(node.outputs[i] ?? '') ?? b.zerosLike(node.outputs[i] ?? ''),
      needs: (i) => needed.has(node.inputs[i] ?? '') && active.has(node.inputs[i] ?? ''),
      give: (i, grad, region) => {
        const tensor = node.inputs[i];
        if (!tensor || !active.has(tensor)) return;
        if (summed.has(tensor)) throw new CompileError(`internal: gradient of ${tensor} used before complete`);
        if (region) regions.set(grad, region);
        contributions.set(tensor, [...(contributions.get(tensor) ?? []), grad]);
      },
      derivative: (key, shape, compute, oneHot) => {
        const mode = policy.derivatives && (policy.derivatives.select?.(node) ?? true) ? policy.derivatives.mode : undefined;
        if (!mode) return compute();
        const name = `dlocal/${node.name}/${key}`;
        if (mode === 'inject') {
          derivatives.push({ name, node: node.name, opType: node.opType, key, shape });
          extraInputs.push({ name, elemType: DataType.FLOAT, dims: shape });
          return name;
        }
        const value = compute();
        b.emit('Identity', [oneHot ? oneHot.index() : value], [name]);
        derivatives.push({ name, node: node.name, opType: node.opType, key, shape, ...(oneHot && { oneHot: { axis: oneHot.axis, classes: oneHot.classes } }) });
        extraOutputs.push(
          oneHot ? { name, elemType: DataType.INT64, dims: shape.filter((_, i) => i !== oneHot.axis) } : { name, elemType: DataType.FLOAT, dims: shape },
        );
        return value;
      },
      fail: (message) => {
        throw new CompileError(`${node.opType} (node ${node.name}): ${message}`);
      },
    };
    rule.backward(ctx);
  }

  // With stopAt, the sweep may end before the input: then there is no input gradient.
  const gradX = gradOf(x);
  if (!gradX && stopAt.size === 0) throw new CompileError(`output ${explained} does not depend on input ${x}`);
  const outputs: ValueInfo[] = [...graph.outputs];
  if (explained !== outputInfo.name) outputs.push(floatInfo(explained, facts));
  const gradient = gradX ? gradName(x) : undefined;
  if (gradX && gradient) {
    emitIdentity(b, gradX, gradient);
    outputs.push({ ...inputInfo, name: gradient, elemType: DataType.FLOAT });
  }
  const exposed = (policy.expose ?? []).map((tensor) => {
    if (!gradOf(tensor) && stopAt.size > 0) throw new CompileError(`no gradient reaches ${tensor}: the sweep stops before it (stopAt)`);
    const g = gradOf(tensor) ?? b.zerosLike(tensor);
    emitIdentity(b, g, gradName(tensor));
    outputs.push(floatInfo(tensor, facts), floatInfo(gradName(tensor), facts, tensor));
    return { tensor, gradient: gradName(tensor) };
  });
  outputs.push(...extraOutputs);

  const seedInfo: ValueInfo = { ...floatInfo(SEED, facts, explained) };
  const model: Model = {
    ...source,
    graph: {
      ...graph,
      nodes: [...graph.nodes, ...b.nodes],
      inputs: [...graph.inputs, seedInfo, ...extraInputs],
      outputs: dedupe(outputs),
      valueInfo: [...(graph.valueInfo ?? []), ...[...declared.values()].filter((v) => v.dims && !outputs.some((o) => o.name === v.name))],
    },
  };
  // Method graphs built around this one keep its interface as their classifier part's border (onnx/float16.ts).
  model.boundary = { inputs: model.graph.inputs, outputs: model.graph.outputs, seed: SEED };
  return {
    model,
    input: x,
    explained,
    seed: SEED,
    gradient,
    exposed,
    derivatives,
    approximations: [...new Set(onPath.flatMap((n) => ruleFor(n)?.approximation ?? []))].sort(),
    summary: {
      opsSeen: [...new Set(onPath.map((n) => n.opType))].sort(),
      nodesOnPath: onPath.length,
      nodesAdded: b.nodes.length,
      inputs: model.graph.inputs.map((v) => v.name),
      outputs: model.graph.outputs.map((v) => v.name),
    },
  };
}

/**
 * One line per op type without a rule (count, first node in graph order), the opset, and what to
 * do: short enough to read in a terminal or an API error, however many nodes a model has.
 */
function unsupportedMessage(nodes: readonly Node[], x: string, y: string, opset: number): string {
  const byType = new Map<string, { count: number; first: string; contrib: boolean }>();
  for (const n of nodes) {
    const contrib = n.domain !== '' && n.domain !== 'ai.onnx';
    const op = contrib ? `${n.domain}.${n.opType}` : n.opType;
    const seen = byType.get(op);
    if (seen) seen.count++;
    else byType.set(op, { count: 1, first: n.name, contrib });
  }
  const types = [...byType].sort((a, b) => b[1].count - a[1].count);
  const plural = (k: number, word: string) => `${k} ${word}${k === 1 ? '' : 's'}`;
  const advice = types.some(([, t]) => t.contrib)
    ? "contrib ops come from ONNX Runtime's graph optimiser or a fusing exporter: explain the model as exported, before optimisation"
    : 're-export the model with these layers in standard ONNX ops the compiler supports (its rules: src/gradgraph/rules/)';
  return [
    `no gradient rule for ${plural(types.length, 'op type')} between input ${x} and output ${y} (model opset ${opset}):`,
    ...types.slice(0, 12).map(([op, t]) => `  ${op}: ${plural(t.count, 'node')}, first ${t.first}`),
    ...(types.length > 12 ? [`  … and ${types.length - 12} more op types`] : []),
    `what to do: ${advice}`,
  ].join('\n');
}

function emitIdentity(b: GraphBuilder, from: string, to: string): void {
  b.emit('Identity', [from], [to]);
}

function floatInfo(name: string, facts: TensorFacts, shapeOf = name): ValueInfo {
  const shape = facts.shapes.get(shapeOf);
  return { name, elemType: DataType.FLOAT, dims: shape ? shape.map((d) => d) : undefined };
}

function dedupe(values: ValueInfo[]): ValueInfo[] {
  const seen = new Set<string>();
  return values.filter((v) => (seen.has(v.name) ? false : (seen.add(v.name), true)));
}
