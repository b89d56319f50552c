// Control flow in classifier exports: PyTorch writes `If` nodes whose condition only depends on
// static shapes (its LocalResponseNorm, squeeze of a maybe-1 axis). Their branches read outer
// tensors directly, which a node's input list does not show, so a gradient sweep would pass them
// by. Ifs with a compile-time condition are replaced by the branch they take; what remains is
// reported by `capturedTensors`, so the compiler can refuse it instead of dropping a path.
import { type Attributes } from './attributes.js';
import { type Graph, type Node } from './ir.js';
import { type GraphProto, type TensorProto } from './proto.js';
import { type Dim } from './shapes.js';
import { tensorValues } from './tensor.js';

/** Tensors a node's subgraphs (If branches, Loop and Scan bodies) read from the enclosing scope. */
export function capturedTensors(node: Node): string[] {
  const graphs = Object.values(node.attrs).flatMap((a) => [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]);
  return [...new Set(graphs.flatMap(outerReads))];
}

function outerReads(g: GraphProto): string[] {
  const local = new Set<string>([...(g.input ?? []).map((v) => v.name ?? ''), ...(g.initializer ?? []).map((t) => t.name ?? '')]);
  const reads: string[] = [];
  for (const n of g.node ?? []) {
    for (const i of n.input ?? []) if (i && !local.has(i)) reads.push(i);
    for (const a of n.attribute ?? [])
      for (const sub of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) reads.push(...outerReads(sub).filter((t) => !local.has(t)));
    for (const o of n.output ?? []) local.add(o);
  }
  for (const o of g.output ?? []) if (o.name && !local.has(o.name)) reads.push(o.name);
  return reads;
}

type Known = (tensor: string) => Dim[] | undefined;

const COMPARE: Record<string, (a: number, b: number) => boolean> = {
  Equal: (a, b) => a === b,
  Greater: (a, b) => a > b,
  Less: (a, b) => a < b,
  GreaterOrEqual: (a, b) => a >= b,
  LessOrEqual: (a, b) => a <= b,
  And: (a, b) => Boolean(a) && Boolean(b),
  Or: (a, b) => Boolean(a) || Boolean(b),
};

/** The value of a one-element boolean condition, when constants and static facts decide it. */
function conditionValue(tensor: string, producedBy: Map<string, Node>, known: Known): boolean | undefined {
  const single = (t: string): number | undefined => {
    const v = known(t);
    if (v && v.length === 1 && typeof v[0] === 'number') return v[0];
    const node = producedBy.get(t);
    if (!node) return undefined;
    if (node.opType === 'Constant' && node.attrs['value']?.t) {
      const values = tensorValues(node.attrs['value'].t as TensorProto);
      return values.length === 1 ? values[0] : undefined;
    }
    if (node.opType === 'Not') {
      const a = single(node.inputs[0] ?? '');
      return a === undefined ? undefined : Number(!a);
    }
    if (['Identity', 'Cast', 'Squeeze', 'Unsqueeze', 'Reshape'].includes(node.opType)) return single(node.inputs[0] ?? '');
    const compare = COMPARE[node.opType];
    if (!compare) return undefined;
    const [a, b] = [single(node.inputs[0] ?? ''), single(node.inputs[1] ?? '')];
    return a === undefined || b === undefined ? undefined : Number(compare(a, b));
  };
  const value = single(tensor);
  return value === undefined ? undefined : Boolean(value);
}

function branchNodes(ifNode: Node, branch: GraphProto): { nodes: Node[]; initializers: TensorProto[] } {
  const outputs = (branch.output ?? []).map((o) => o.name ?? '');
  const rename = new Map(outputs.map((o, i) => [o, ifNode.outputs[i] ?? o]));
  const produced = new Set((branch.node ?? []).flatMap((n) => n.output ?? []));
  const nodes: Node[] = (branch.node ?? []).map((n, k) => {
    const attrs: Attributes = {};
    for (const a of n.attribute ?? []) attrs[a.name ?? ''] = a;
    return {
      name: `${ifNode.name}/${n.name || `${n.opType}_${k}`}`,
      opType: n.opType ?? '',
      domain: n.domain ?? '',
      inputs: [...(n.input ?? [])],
      outputs: (n.output ?? []).map((o) => rename.get(o) ?? o),
      attrs,
    };
  });
  // A branch that returns an outer tensor as it is.
  outputs.forEach((o, i) => {
    if (!produced.has(o))
      nodes.push({ name: `${ifNode.name}/identity_${i}`, opType: 'Identity', domain: '', inputs: [o], outputs: [ifNode.outputs[i] ?? o], attrs: {} });
  });
  return { nodes, initializers: branch.initializer ?? [] };
}

/**
 * The graph with every `If` whose condition is known at compile time replaced by the nodes of
 * the branch it takes (their outputs renamed to the If's). Runs the same computation.
 */
export function inlineConstantIfs(graph: Graph, facts: { values: Map<string, Dim[]> }): Graph {
  if (!graph.nodes.some((n) => n.opType === 'If')) return graph;
  const producedBy = new Map<string, Node>();
  for (const n of graph.nodes) for (const o of n.outputs) producedBy.set(o, n);
  const known: Known = (t) => {
    const init = graph.initializers.get(t);
    return init ? tensorValues(init) : facts.values.get(t);
  };
  const initializers = new Map(graph.initializers);
  const nodes = graph.nodes.flatMap((n) => {
    if (n.opType !== 'If' || (n.domain && n.domain !== 'ai.onnx')) return [n];
    const cond = conditionValue(n.inputs[0] ?? '', producedBy, known);
    const branch = cond === undefined ? undefined : n.attrs[cond ? 'then_branch' : 'else_branch']?.g;
    if (!branch) return [n];
    const inlined = branchNodes(n, branch);
    for (const t of inlined.initializers) initializers.set(t.name ?? '', t);
    return inlined.nodes;
  });
  return { ...graph, nodes, initializers };
}
