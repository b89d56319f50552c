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
import { loadModel } from '../../src/runtime/gradient-model.js';
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

// Sinh and Cos: ops ONNX Runtime runs that no classifier needs a rule for.
test('an op without a rule on the path fails at compile time: one line per op type, with count and first node', async () => {
  const model = chain(
    13,
    { opType: 'MatMul', inputs: ['x', 'w'], outputs: ['h'], attrs: {} },
    { opType: 'Sinh', inputs: ['h'], outputs: ['a'], attrs: {} },
    { opType: 'Cos', inputs: ['a'], outputs: ['b'], attrs: {} },
    { opType: 'Sinh', inputs: ['b'], outputs: ['y'], attrs: {} },
  );
  const facts = await probeShapes(model);
  assert.throws(
    () => compileGradient(model, { facts }),
    (err: Error) => {
      const lines = err.message.split('\n');
      assert.equal(lines[0], 'no gradient rule for 2 op types between input x and output y (model opset 13):');
      assert.equal(lines[1], '  Sinh: 2 nodes, first node_1_Sinh');
      assert.equal(lines[2], '  Cos: 1 node, first node_2_Cos');
      assert.match(lines[3] ?? '', /^what to do: re-export/);
      assert.equal(lines.length, 4);
      return true;
    },
  );
});

test('a model with hundreds of unsupported nodes still gets a short message', async () => {
  const nodes = Array.from({ length: 300 }, (_, i) => ({
    opType: i % 2 ? 'Sinh' : 'Cos',
    inputs: [i === 0 ? 'x' : `t${i - 1}`],
    outputs: [i === 299 ? 'y' : `t${i}`],
    attrs: {},
  }));
  const model = chain(13, ...nodes);
  const facts = await probeShapes(model);
  assert.throws(
    () => compileGradient(model, { facts }),
    (err: Error) => err.message.length < 400 && /Cos: 150 nodes, first node_0_Cos/.test(err.message),
  );
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

test('models below opset 7 are refused with the fix; 7 to 10 are upgraded on load', async () => {
  const save = (model: Model, file: string) => {
    const path = join(work, file);
    writeFileSync(path, encodeModel(modelToProto(model)));
    return path;
  };
  const relu = (opset: number) =>
    chain(opset, { opType: 'MatMul', inputs: ['x', 'w'], outputs: ['h'], attrs: {} }, { opType: 'Relu', inputs: ['h'], outputs: ['y'], attrs: {} });
  await assert.rejects(loadModel(save(relu(6), 'op6.onnx')), /opset 6 is older than 7, the oldest ONNX Runtime runs; convert the model to opset 11 or newer/);
  const loaded = await loadModel(save(relu(9), 'op9.onnx'));
  assert.equal(loaded.originalOpset, 9);
  assert.equal(loaded.model.opset, 11);
  assert.deepEqual(compileGradient(loaded.model, { facts: loaded.facts }).summary.opsSeen, ['MatMul', 'Relu']);
});

test('saliency compile reports unsupported ops in a few short lines and exits non-zero', async () => {
  const model = chain(13, { opType: 'Sinh', inputs: ['x'], outputs: ['y'], attrs: {} });
  const path = join(work, 'sinh.onnx');
  writeFileSync(path, encodeModel(modelToProto(model)));
  const r = spawnSync(process.execPath, [CLI, 'compile', '--model', path, '--output', join(work, 'out.onnx')], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines[0], 'saliency compile: CompileError: no gradient rule for 1 op type between input x and output y (model opset 13):');
  assert.equal(lines[1], '  Sinh: 1 node, first node_0_Sinh');
  assert.equal(lines.length, 3);
});
