// If nodes on the explained path: a condition known at compile time is inlined (PyTorch's
// LocalResponseNorm export squeezes behind one); any other If that reads the differentiated
// tensor inside a branch is refused, never passed by with a zero gradient.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileGradient } from '../../src/gradgraph/index.js';
import { onnx, type GraphProto } from '../../src/onnx/proto.js';
import { probeShapes } from '../../src/runtime/shape-probe.js';
import { gradientAndForward, graphModel, seededNormal, size } from '../helpers/tiny-graph.js';

const T = onnx.AttributeProto.AttributeType;
/** A branch that returns op(outer) under the name `out`. */
const branch = (opType: string, outer: string, out: string): GraphProto => ({
  name: `${opType}_branch`,
  node: [{ opType, input: [outer], output: [out], name: `${opType}_in_branch` }],
  output: [{ name: out }],
});

function ifModel(condition: { static: boolean }) {
  return graphModel({
    x: [3, 4],
    opset: 13,
    initializers: condition.static ? { two: { int64: [2] }, axis: { int64: [1] }, three: { int64: [3] } } : { zero: { float: [0], dims: [] } },
    nodes: [
      ...(condition.static
        ? [
            { opType: 'Shape', inputs: ['x'], outputs: ['sx'], attrs: {} },
            { opType: 'Gather', inputs: ['sx', 'axis'], outputs: ['c'], attrs: {} },
            { opType: 'Equal', inputs: ['c', 'three'], outputs: ['cond1'], attrs: {} },
            { opType: 'Squeeze', inputs: ['cond1'], outputs: ['cond'], attrs: {} },
          ]
        : [
            { opType: 'ReduceSum', inputs: ['x'], outputs: ['s'], attrs: { keepdims: { type: T.INT, i: 0 } } },
            { opType: 'Greater', inputs: ['s', 'zero'], outputs: ['cond'], attrs: {} },
          ]),
      { opType: 'Tanh', inputs: ['x'], outputs: ['t'], attrs: {} },
      {
        opType: 'If',
        inputs: ['cond'],
        outputs: ['y'],
        attrs: { then_branch: { type: T.GRAPH, g: branch('Neg', 't', 'then_out') }, else_branch: { type: T.GRAPH, g: branch('Identity', 't', 'else_out') } },
      },
    ],
  });
}

test('an If with a condition known at compile time is inlined: the taken branch is differentiated', async () => {
  const x = seededNormal(3, 2 * 12);
  const { grad, y, compiled } = await gradientAndForward(ifModel({ static: true }), { data: x, dims: [2, 3, 4] }, (dims) =>
    new Float32Array(size(dims)).fill(1),
  );
  assert.ok(!compiled.model.graph.nodes.some((n) => n.opType === 'If'));
  // The axis has size 3: the then-branch, y = −tanh(x), dy/dx = −(1 − y²).
  grad.data.forEach((g, i) => assert.ok(Math.abs(g + (1 - (y.data[i] as number) ** 2)) < 1e-6, `element ${i}`));
});

test('an If that reads the differentiated tensor under a runtime condition is refused at compile time', async () => {
  const model = ifModel({ static: false });
  const facts = await probeShapes(model);
  assert.throws(() => compileGradient(model, { facts }), /If \(node n\d_If\) reads the differentiated input inside its subgraph/);
});
