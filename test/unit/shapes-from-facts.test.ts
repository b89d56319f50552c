// shapesFromFacts: a Shape of a computed tensor becomes its known shape, the batch read from the
// graph input, so pruning can drop the tensor's producers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attr } from '../../src/onnx/attributes.js';
import { type Graph } from '../../src/onnx/ir.js';
import { pruneGraph, shapesFromFacts } from '../../src/onnx/prune.js';
import { type Dim, type TensorFacts } from '../../src/onnx/shapes.js';
import { tensorValues } from '../../src/onnx/tensor.js';

function graphWithShape(attrs: Graph['nodes'][number]['attrs']): { graph: Graph; facts: TensorFacts } {
  const graph: Graph = {
    name: 'g',
    nodes: [
      { name: 'relu', opType: 'Relu', domain: '', inputs: ['x'], outputs: ['h'], attrs: {} },
      { name: 'size', opType: 'Shape', domain: '', inputs: ['h'], outputs: ['s'], attrs },
    ],
    inputs: [{ name: 'x', elemType: 1, dims: ['N', 3, 4, 5] }],
    outputs: [{ name: 's', elemType: 7, dims: [4] }],
    initializers: new Map(),
  };
  const shapes = new Map<string, Dim[]>([
    ['x', ['N', 3, 4, 5]],
    ['h', ['2*N', 3, 4, 5]],
  ]);
  return { graph, facts: { shapes, values: new Map(), types: new Map() } };
}

/** The int64 constant feeding each input of the node writing `output`. */
function pieces(graph: Graph, output: string): (number[] | string)[] {
  const node = graph.nodes.find((n) => n.outputs.includes(output));
  assert.ok(node);
  return node.inputs.map((i) => {
    const t = graph.initializers.get(i);
    return t ? tensorValues(t) : (graph.nodes.find((n) => n.outputs.includes(i))?.opType ?? '?');
  });
}

test('Shape of a computed tensor: static axes as constants, k·N as k times the input batch', () => {
  const { graph, facts } = graphWithShape({});
  const pruned = pruneGraph(shapesFromFacts(graph, facts, 'x', 17), ['s']);
  assert.equal(
    pruned.nodes.some((n) => n.name === 'relu'),
    false,
  );
  assert.deepEqual(pieces(pruned, 's'), ['Mul', [3], [4], [5]]);
});

test("Shape's start and end select the axes; the batch is left out when not selected", () => {
  const { graph, facts } = graphWithShape({ start: attr.int(1), end: attr.int(-1) });
  const pruned = pruneGraph(shapesFromFacts(graph, facts, 'x', 17), ['s']);
  assert.deepEqual(pieces(pruned, 's'), [[3], [4]]);
  assert.equal(
    pruned.nodes.some((n) => n.inputs.includes('x')),
    false,
  );
});

test('an unknown shape, a symbol other than the batch, or an input whose first axis is not the batch leaves the graph as it is', () => {
  const { graph, facts } = graphWithShape({});
  facts.shapes.delete('h');
  assert.equal(shapesFromFacts(graph, facts, 'x', 17), graph);
  const symbolic = graphWithShape({});
  symbolic.facts.shapes.set('h', ['N', 3, 'H', 5]);
  assert.equal(shapesFromFacts(symbolic.graph, symbolic.facts, 'x', 17), symbolic.graph);
  const other = graphWithShape({});
  other.facts.shapes.set('x', [1, 3, 4, 5]);
  assert.equal(shapesFromFacts(other.graph, other.facts, 'x', 17), other.graph);
});
