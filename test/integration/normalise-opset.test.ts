// The opset upgrade of src/onnx/normalise-opset.ts on one-op graphs: ONNX Runtime runs the
// original (opset 7–10) and the upgraded (opset-11) model on the same input, and the outputs must
// be equal. The forms-* fixtures (opset-forms.test.ts) cover the same rewrites inside a network.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attr, type Attributes } from '../../src/onnx/attributes.js';
import { type Model, modelToProto } from '../../src/onnx/ir.js';
import { normaliseOpset, OpsetUpgradeError } from '../../src/onnx/normalise-opset.js';
import { encodeModel, type TensorProto } from '../../src/onnx/proto.js';
import { floatTensor, int64Tensor } from '../../src/onnx/tensor.js';
import { Session } from '../../src/runtime/ort.js';

interface Case {
  name: string;
  opset: number;
  opType: string;
  attrs?: Attributes;
  /** Extra inputs after x: initializers by name. */
  constants?: TensorProto[];
  /** Rewritten op type expected. */
  becomes?: string;
}

const X = [2, 1, 4, 6];

function model(c: Case): Model {
  const inputs = ['x', ...(c.constants ?? []).map((t) => t.name ?? '')];
  return {
    opset: c.opset,
    proto: { irVersion: 3, producerName: 'test', opsetImport: [{ domain: '', version: c.opset }] },
    graph: {
      name: 'g',
      nodes: [{ name: 'op', opType: c.opType, domain: '', inputs, outputs: c.opType === 'TopK' ? ['y', 'indices'] : ['y'], attrs: c.attrs ?? {} }],
      inputs: [{ name: 'x', elemType: 1, dims: ['N', ...X.slice(1)] }],
      outputs: [{ name: 'y', elemType: 1, dims: undefined }],
      initializers: new Map((c.constants ?? []).map((t) => [t.name ?? '', t])),
    },
  };
}

const cases: Case[] = [
  { name: 'Clip-6 with min and max', opset: 9, opType: 'Clip', attrs: { min: attr.float(-0.2), max: attr.float(0.3) } },
  { name: 'Clip-6 with max only', opset: 7, opType: 'Clip', attrs: { max: attr.float(0.3) } },
  { name: 'Slice-1 without axes', opset: 9, opType: 'Slice', attrs: { starts: attr.ints([0, 0, 1, 2]), ends: attr.ints([2, 1, 3, 100]) } },
  {
    name: 'Slice-1 with negative axes and ends',
    opset: 7,
    opType: 'Slice',
    attrs: { starts: attr.ints([1, -4]), ends: attr.ints([-1, 1000]), axes: attr.ints([2, -1]) },
  },
  { name: 'Pad-2 constant with a value', opset: 9, opType: 'Pad', attrs: { pads: attr.ints([0, 0, 1, 2, 0, 0, 2, 1]), value: attr.float(0.75) } },
  { name: 'Pad-2 reflect', opset: 10, opType: 'Pad', attrs: { mode: attr.string('reflect'), pads: attr.ints([0, 0, 1, 1, 0, 0, 1, 1]) } },
  { name: 'Pad-2 edge with a negative pad', opset: 7, opType: 'Pad', attrs: { mode: attr.string('edge'), pads: attr.ints([0, 0, 2, -1, 0, 0, 0, 3]) } },
  { name: 'TopK-1 (k attribute)', opset: 9, opType: 'TopK', attrs: { k: attr.int(3) } },
  { name: 'Upsample-7 nearest (scales attribute)', opset: 7, opType: 'Upsample', attrs: { scales: attr.floats([1, 1, 2, 3]) }, becomes: 'Resize' },
  {
    name: 'Upsample-7 linear (scales attribute)',
    opset: 8,
    opType: 'Upsample',
    attrs: { mode: attr.string('linear'), scales: attr.floats([1, 1, 2, 2]) },
    becomes: 'Resize',
  },
  { name: 'Upsample-9 nearest (scales input)', opset: 9, opType: 'Upsample', constants: [floatTensor('scales', [4], [1, 1, 3, 2])], becomes: 'Resize' },
  {
    name: 'Upsample-9 linear (scales input)',
    opset: 9,
    opType: 'Upsample',
    attrs: { mode: attr.string('linear') },
    constants: [floatTensor('scales', [4], [1, 1, 2, 1.5])],
    becomes: 'Resize',
  },
  { name: 'Resize-10 nearest, upsampling', opset: 10, opType: 'Resize', constants: [floatTensor('scales', [4], [1, 1, 2, 2])] },
  {
    name: 'Resize-10 linear, upsampling',
    opset: 10,
    opType: 'Resize',
    attrs: { mode: attr.string('linear') },
    constants: [floatTensor('scales', [4], [1, 1, 1.5, 2])],
  },
  { name: 'Resize-10 nearest, downsampling', opset: 10, opType: 'Resize', constants: [floatTensor('scales', [4], [1, 1, 0.5, 0.5])] },
  {
    name: 'Resize-10 linear, downsampling',
    opset: 10,
    opType: 'Resize',
    attrs: { mode: attr.string('linear') },
    constants: [floatTensor('scales', [4], [1, 1, 0.5, 0.5])],
  },
  {
    name: 'Scatter-9 (ScatterElements)',
    opset: 9,
    opType: 'Scatter',
    attrs: { axis: attr.int(3) },
    constants: [int64Tensor('indices', [2, 1, 4, 1], [5, 0, 2, 3, 1, 1, 4, 0]), floatTensor('updates', [2, 1, 4, 1], [9, 8, 7, 6, 5, 4, 3, 2])],
    becomes: 'ScatterElements',
  },
  {
    name: 'BatchNormalization-7 spatial=1',
    opset: 7,
    opType: 'BatchNormalization',
    attrs: { spatial: attr.int(1), epsilon: attr.float(1e-3) },
    constants: [floatTensor('scale', [1], [1.5]), floatTensor('bias', [1], [0.25]), floatTensor('mean', [1], [0.1]), floatTensor('var', [1], [2])],
  },
  { name: 'Dropout-7 (ratio attribute)', opset: 7, opType: 'Dropout', attrs: { ratio: attr.float(0.4) } },
];

const xValues = Float32Array.from({ length: X.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(1.7 * i) + 0.1 * i);

async function run(m: Model): Promise<{ dims: number[]; data: number[] }> {
  const session = await Session.create(encodeModel(modelToProto(m)), { threads: 1 });
  try {
    const y = (await session.run({ x: { data: xValues, dims: X } }))['y'];
    assert.ok(y);
    return { dims: y.dims, data: Array.from(y.data) };
  } finally {
    await session.release();
  }
}

for (const c of cases) {
  test(`${c.name} at opset ${c.opset}: the opset-11 form computes the same`, async () => {
    const source = model(c);
    const { model: upgraded, originalOpset, rewrites } = normaliseOpset(source);
    assert.equal(originalOpset, c.opset);
    assert.equal(upgraded.opset, 11);
    assert.equal(upgraded.graph.nodes[0]?.opType, c.becomes ?? c.opType);
    if (c.opType !== 'Dropout') assert.equal(rewrites.length, 1);
    const [want, got] = [await run(source), await run(upgraded)];
    assert.deepEqual(got.dims, want.dims);
    assert.deepEqual(got.data, want.data);
  });
}

test('opset 11 and newer are left as they are', () => {
  const m = model({ name: '', opset: 13, opType: 'Relu' });
  assert.equal(normaliseOpset(m).model, m);
});

test('what has no opset-11 form is refused with the fix', () => {
  assert.throws(() => normaliseOpset(model({ name: '', opset: 6, opType: 'Relu' })), /opset 6 is older than 7, the oldest ONNX Runtime runs/);
  const bn = model({ name: '', opset: 7, opType: 'BatchNormalization', attrs: { spatial: attr.int(0) } });
  assert.throws(
    () => normaliseOpset(bn),
    (err: Error) => err instanceof OpsetUpgradeError && /spatial=0/.test(err.message),
  );
});
