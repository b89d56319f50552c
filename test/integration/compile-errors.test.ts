// Compile-time failures name the op and the node, and never produce a wrong gradient.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { compileGradient } from '../../src/gradgraph/index.js';
import { type Model, type Node, modelToProto } from '../../src/onnx/ir.js';
import { encodeModel } from '../../src/onnx/proto.js';
import { floatTensor } from '../../src/onnx/tensor.js';
import { probeShapes } from '../../src/runtime/shape-probe.js';
import { CLI } from '../helpers/paths.js';

const work = mkdtempSync(join(tmpdir(), 'saliency-errors-'));
after(() => rmSync(work, { recursive: true, force: true }));

function chain(opset: number, ...nodes: Omit<Node, 'domain' | 'name'>[]): Model {
  return {
    opset,
    proto: { irVersion: 8, producerName: 'test', opsetImport: [{ domain: '', version: opset }] },
    graph: {
      name: 'g',
      nodes: nodes.map((n, i) => ({ ...n, domain: '', name: `node_${i}_${n.opType}` })),
      inputs: [{ name: 'x', elemType: 1, dims: ['N', 4] }],
      outputs: [{ name: 'y', elemType: 1, dims: ['N', 4] }],
      initializers: new Map([['w', floatTensor('w', [4, 4], new Float32Array(16).fill(0.5))]]),
    },
  };
}

test('an op without a rule on the path fails at compile time, naming op and node', async () => {
  const model = chain(
    13,
    { opType: 'MatMul', inputs: ['x', 'w'], outputs: ['h'], attrs: {} },
    { opType: 'Sin', inputs: ['h'], outputs: ['y'], attrs: {} },
  );
  const facts = await probeShapes(model);
  assert.throws(() => compileGradient(model, { facts }), /no gradient rule for Sin \(node node_1_Sin\)/);
});

test('an op off the differentiable path needs no rule', async () => {
  const model = chain(
    13,
    { opType: 'Shape', inputs: ['x'], outputs: ['s'], attrs: {} },
    { opType: 'MatMul', inputs: ['x', 'w'], outputs: ['h'], attrs: {} },
    { opType: 'Reshape', inputs: ['h', 's'], outputs: ['y'], attrs: {} },
  );
  const facts = await probeShapes(model);
  const result = compileGradient(model, { facts });
  assert.deepEqual(result.summary.opsSeen, ['MatMul', 'Reshape']);
});

test('models below opset 11 are refused with the fix', async () => {
  const model = chain(13, { opType: 'Relu', inputs: ['x'], outputs: ['y'], attrs: {} });
  const facts = await probeShapes(model);
  assert.throws(() => compileGradient({ ...model, opset: 9 }, { facts }), /opset 9 is not supported: re-export the model at opset 11 or newer/);
});

test('saliency compile reports an unsupported op on one line and exits non-zero', async () => {
  const model = chain(13, { opType: 'Sin', inputs: ['x'], outputs: ['y'], attrs: {} });
  const path = join(work, 'selu.onnx');
  writeFileSync(path, encodeModel(modelToProto(model)));
  const r = spawnSync(process.execPath, [CLI, 'compile', '--model', path, '--output', join(work, 'out.onnx')], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /CompileError: no gradient rule for Sin \(node node_0_Sin\)/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});
