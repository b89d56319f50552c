// Dead-code elimination: keep the nodes, initializers and inputs that the wanted outputs need.
import { type Graph, producers } from './ir.js';

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
