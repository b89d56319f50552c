// Dead-code elimination: keep the nodes, initializers and inputs that the wanted outputs need.
import { attr, getInt } from './attributes.js';
import { GraphBuilder } from './builder.js';
import { type Graph, producers } from './ir.js';
import { BATCH, type Dim, type TensorFacts, batchMultiple } from './shapes.js';

export function pruneGraph(graph: Graph, outputs: readonly string[]): Graph {
  const producedBy = producers(graph);
  const needed = new Set<string>(outputs);
  const keep = new Set<number>();
  const index = new Map(graph.nodes.map((n, i) => [n, i]));
  const stack = [...outputs];
  while (stack.length > 0) {
    const tensor = stack.pop() as string;
    const node = producedBy.get(tensor);
    if (!node || keep.has(index.get(node) as number)) continue;
    keep.add(index.get(node) as number);
    for (const input of node.inputs) {
      if (input && !needed.has(input)) {
        needed.add(input);
        stack.push(input);
      }
    }
  }
  const byName = new Map(graph.outputs.map((v) => [v.name, v]));
  return {
    ...graph,
    nodes: graph.nodes.filter((_, i) => keep.has(i)),
    inputs: graph.inputs.filter((v) => needed.has(v.name)),
    outputs: outputs.map((name) => byName.get(name) ?? { name, elemType: 1, dims: undefined }),
    initializers: new Map([...graph.initializers].filter(([name]) => needed.has(name))),
  };
}

/**
 * The graph with each Shape node on a computed tensor whose shape the facts know (static but for
 * a `k·N` batch axis) replaced by that shape, its batch taken from the graph input `input`: the
 * Shape no longer keeps its tensor's producers alive, so pruning can drop a forward pass that a
 * backward graph needed only for sizes (SmoothDiff's backward with injected derivatives).
 */
export function shapesFromFacts(graph: Graph, facts: TensorFacts, input: string, opset: number): Graph {
  if (facts.shapes.get(input)?.[0] !== BATCH) return graph;
  const computed = new Set(graph.nodes.flatMap((n) => n.outputs));
  const initializers = new Map(graph.initializers);
  const b = new GraphBuilder({ ...graph, initializers }, opset, 'shape');
  let batch: string | undefined;
  const batchOf = () => (batch ??= b.slice(b.shapeOf(input), [0], [1], [0]));
  let replaced = false;
  const nodes = graph.nodes.flatMap((node) => {
    const dims = node.opType === 'Shape' && computed.has(node.inputs[0] as string) ? facts.shapes.get(node.inputs[0] as string) : undefined;
    if (!dims || !dims.every((d) => typeof d === 'number' || d === BATCH || /^\d+\*N$/.test(d))) return [node];
    // Shape's start and end (opset 15) select a range of the axes.
    const clamp = (v: number) => Math.min(dims.length, Math.max(0, v < 0 ? v + dims.length : v));
    const wanted = dims.slice(clamp(getInt(node.attrs, 'start', 0)), clamp(getInt(node.attrs, 'end', dims.length)));
    const piece = (d: Dim) => (typeof d === 'number' ? b.ints([d]) : d === BATCH ? batchOf() : b.mul(batchOf(), b.ints([batchMultiple(d) as number])));
    if (wanted.length === 0) b.emit('Identity', [b.ints([], [0])], node.outputs);
    else if (wanted.length === 1) b.emit('Identity', [piece(wanted[0] as Dim)], node.outputs);
    else b.emit('Concat', wanted.map(piece), node.outputs, { axis: attr.int(0) });
    replaced = true;
    // What it needs, emitted just now: the batch's Shape and Slice the first time, the constants.
    return b.nodes.splice(0);
  });
  return replaced ? { ...graph, nodes, initializers } : graph;
}
