// Nonlinear rules against central differences in float32: for L(x) = Σ seed·y(x) and random
// directions d, (L(x + h·d) − L(x − h·d)) / 2h ≈ ⟨∂L/∂x, d⟩. Inputs are kept away from kinks
// (further than 10·h·max|d| from a threshold) and, for max-type ops, from ties.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BackwardPolicy } from '../../src/gradgraph/policy.js';
import { attr, type Attributes } from '../../src/onnx/attributes.js';
import { type FloatTensor } from '../../src/runtime/ort.js';
import { GradHarness, MICROSOFT, dot, gradientAndForward, graphModel, maxAbs, relErr, seededNormal, size } from '../helpers/tiny-graph.js';
import { DMAX, type FdCase, fdCases as cases, floats, normal, op, scaled } from './rules-finite-difference.cases.js';

async function checkFiniteDifferences(c: FdCase, batch = 2, directions = 3): Promise<void> {
  const step = c.step ?? 1e-2;
  const tol = c.tol ?? 1e-2;
  const h = await GradHarness.create(c.model, { explainSoftmaxInput: false, ...(c.policy ? { policy: c.policy } : {}) });
  const reference = c.reference ? await GradHarness.create(c.reference, { explainSoftmaxInput: false }) : h;
  try {
    assert.equal(h.compiled.explained, 'y');
    const sample = (c.model.graph.inputs[0]?.dims ?? []).slice(1) as number[];
    const dims = [batch, ...sample];
    const n = size(dims);
    const x: FloatTensor = { data: (c.sample ?? normal)(n, 31), dims };
    const y = await h.forward(x);
    const seed: FloatTensor = { data: seededNormal(32, y.data.length), dims: y.dims };
    const grad = await h.gradient(x, seed);
    assert.deepEqual(grad.dims, dims);
    const gradNorm = Math.sqrt(dot(grad.data, grad.data));
    assert.ok(gradNorm > 1e-3, `degenerate case: the gradient norm is ${gradNorm}`);
    const L = async (data: Float32Array) => dot((await reference.forward({ data, dims })).data, seed.data);
    for (let k = 0; k < directions; k++) {
      const d = seededNormal(40 + k, n).map((v) => Math.max(-DMAX, Math.min(DMAX, v)));
      const plus = x.data.map((v, i) => v + step * (d[i] as number));
      const minus = x.data.map((v, i) => v - step * (d[i] as number));
      // The step actually taken, after float32 rounding of x ± h·d.
      const taken = Float64Array.from(plus, (p, i) => p - (minus[i] as number));
      const fd = (await L(plus)) - (await L(minus));
      const analytic = dot(grad.data, taken);
      // Relative to the directional derivative, or to the gradient's scale when it is small by chance.
      const scale = Math.max(Math.abs(analytic), gradNorm * 2 * step);
      const err = Math.abs(fd - analytic) / scale;
      assert.ok(
        err <= tol,
        `direction ${k}: finite difference ${fd / (2 * step)}, analytic ${analytic / (2 * step)}, relative error ${err.toExponential(2)} > ${tol}`,
      );
    }
  } finally {
    await h.release();
    if (reference !== h) await reference.release();
  }
}

for (const c of cases) {
  test(`finite differences: ${c.name}`, c.todo ? { todo: c.todo } : {}, async () => {
    await checkFiniteDifferences(c);
  });
}

test('the finite-difference check rejects a wrong rule (Tanh with 1 − y instead of 1 − y²)', async () => {
  const wrongTanh: BackwardPolicy = {
    overrides: {
      Tanh: {
        differentiable: [0],
        backward(ctx) {
          ctx.give(0, ctx.b.mul(ctx.gradOut(0) as string, ctx.b.sub(ctx.b.scalar(1), ctx.output(0))));
        },
      },
    },
  };
  await assert.rejects(
    checkFiniteDifferences({ name: 'wrong Tanh', model: op('Tanh', 13, [3, 5, 5]), sample: scaled(1.5), policy: wrongTanh }),
    /relative error/,
  );
});

// ---------------------------------------------------------------- exact tie-breaking
// (Expected values are compared after `v + 0`, which turns the runtime's −0 into 0.)

// Opset 13 uses the offset masks + grouped ConvTranspose; from 16 on, ScatterElements(add).
for (const opset of [13, 17]) {
  test(`MaxPool 3x3 s2 with planted ties (opset ${opset}): each window gives its whole gradient to its first maximum in raster order`, async () => {
    // 5x5 plane, windows at rows/cols {0..2, 2..4}; they share row 2 / col 2.
    const x = Float32Array.from({ length: 25 }, (_, i) => -1 - i / 100); // distinct, all below the planted 5s
    const at = (r: number, c: number) => r * 5 + c;
    for (const [r, c] of [
      [0, 1],
      [1, 0],
      [0, 3],
      [2, 2],
      [3, 0],
      [4, 4],
    ] as const)
      x[at(r, c)] = 5;
    // Window (0,0): 5s at (0,1), (1,0), (2,2) → (0,1).  Window (0,1): (0,3), (2,2) → (0,3).
    // Window (1,0): (2,2), (3,0) → (2,2).                 Window (1,1): (2,2), (4,4) → (2,2).
    const model = op('MaxPool', opset, [1, 5, 5], ['x'], { kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]) });
    const { y, grad } = await gradientAndForward(model, { data: x, dims: [1, 1, 5, 5] }, Float32Array.from([1, 2, 3, 4]));
    assert.deepEqual(Array.from(y.data), [5, 5, 5, 5]);
    const expected = new Array<number>(25).fill(0);
    expected[at(0, 1)] = 1;
    expected[at(0, 3)] = 2;
    expected[at(2, 2)] = 3 + 4;
    assert.deepEqual(
      Array.from(grad.data, (v) => v + 0),
      expected,
    );
  });

  test(`MaxPool 3x3 s2 p1 with a plateau (opset ${opset}): ties resolved per window in raster order, padding never wins`, async () => {
    // All zeros: every window's maximum ties over all its in-image positions; the first in-image one wins.
    const model = op('MaxPool', opset, [1, 4, 4], ['x'], { kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) });
    const { grad } = await gradientAndForward(model, { data: new Float32Array(16), dims: [1, 1, 4, 4] }, Float32Array.from([1, 10, 100, 1000]));
    // Windows start at rows/cols −1 and 1: their first in-image positions are (0,0), (0,1), (1,0), (1,1).
    const expected = new Array<number>(16).fill(0);
    expected[0] = 1;
    expected[1] = 10;
    expected[4] = 100;
    expected[5] = 1000;
    assert.deepEqual(
      Array.from(grad.data, (v) => v + 0),
      expected,
    );
  });
}

test('GlobalMaxPool with ties: the first maximum in raster order takes the gradient', async () => {
  const x = Float32Array.from([0, 3, 1, 3, 2, 3, /* channel 1 */ 7, -1, 7, 7, 0, 0]);
  const model = op('GlobalMaxPool', 13, [2, 2, 3]);
  const { grad } = await gradientAndForward(model, { data: x, dims: [1, 2, 2, 3] }, Float32Array.from([2, -5]));
  assert.deepEqual(
    Array.from(grad.data, (v) => v + 0),
    [0, 2, 0, 0, 0, 0, -5, 0, 0, 0, 0, 0],
  );
});

test('ReduceMax with ties shares the gradient evenly (PyTorch amax)', async () => {
  const x = Float32Array.from([1, 4, 4, 0, /* row 2 */ 2, 2, 2, 2]);
  const model = op('ReduceMax', 13, [2, 4], ['x'], { axes: attr.ints([2]), keepdims: attr.int(0) });
  const { grad } = await gradientAndForward(model, { data: x, dims: [1, 2, 4] }, Float32Array.from([6, 8]));
  assert.deepEqual(
    Array.from(grad.data, (v) => v + 0),
    [0, 3, 3, 0, 2, 2, 2, 2],
  );
});

test('Relu at exactly 0 passes no gradient (strict x > 0)', async () => {
  const x = Float32Array.from([0, 1, -1, 0, 2, -0, 1e-30, -1e-30]);
  const { grad } = await gradientAndForward(op('Relu', 13, [8]), { data: x, dims: [1, 8] }, Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]));
  assert.deepEqual(
    Array.from(grad.data, (v) => v + 0),
    [0, 2, 0, 0, 5, 0, 7, 0],
  );
});

test('LeakyRelu at exactly 0 takes the negative slope', async () => {
  const x = Float32Array.from([0, 1, -1]);
  const { grad } = await gradientAndForward(
    op('LeakyRelu', 13, [3], ['x'], { alpha: attr.float(0.25) }),
    { data: x, dims: [1, 3] },
    Float32Array.from([4, 4, 4]),
  );
  assert.deepEqual(
    Array.from(grad.data, (v) => v + 0),
    [1, 4, 1],
  );
});

test('Clip at exactly its bounds passes no gradient (strict inequalities)', async () => {
  const x = Float32Array.from([-1, -0.5, 0, 0.5, 1]);
  const model = op('Clip', 13, [5], ['x', floats([-0.5], []), floats([0.5], [])]);
  const { grad } = await gradientAndForward(model, { data: x, dims: [1, 5] }, Float32Array.from([1, 1, 1, 1, 1]));
  assert.deepEqual(
    Array.from(grad.data, (v) => v + 0),
    [0, 0, 1, 0, 0],
  );
});

test('the seed scales the gradient linearly (sanity check of the finite-difference harness)', async () => {
  const x = seededNormal(5, 2 * 12);
  const model = op('Tanh', 13, [12]);
  const one = await gradientAndForward(model, { data: x, dims: [2, 12] }, (dims) => new Float32Array(size(dims)).fill(1));
  const three = await gradientAndForward(model, { data: x, dims: [2, 12] }, (dims) => new Float32Array(size(dims)).fill(3));
  assert.ok(maxAbs(one.grad.data) > 0);
  one.grad.data.forEach((v, i) => assert.ok(Math.abs(3 * v - (three.grad.data[i] as number)) <= 1e-6, `element ${i}`));
});

// FusedConv is Conv (+ Z) then the activation: its gradient must be the unfused graph's, to rounding.
for (const [activation, params] of [
  ['Relu', []],
  ['Clip', [-0.5, 0.5]],
  ['HardSigmoid', [0.3, 0.4]],
  ['Sigmoid', []],
  ['LeakyRelu', [0.2]],
  ['Tanh', []],
] as const) {
  for (const withSum of [false, true]) {
    test(`FusedConv ${activation}${withSum ? ' with Z' : ''}: the same gradient as Conv${withSum ? ' + Add' : ''} + ${activation}`, async () => {
      const w = { float: seededNormal(5, 4 * 4 * 9).map((v) => v * 0.3), dims: [4, 4, 3, 3] };
      const b = { float: seededNormal(6, 4).map((v) => v * 0.1), dims: [4] };
      const conv = { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) };
      const p = [...params] as number[];
      const fused = graphModel({
        x: [4, 5, 5],
        opset: 13,
        initializers: { w, b },
        nodes: [
          {
            opType: 'FusedConv',
            domain: MICROSOFT.domain,
            inputs: ['x', 'w', 'b', ...(withSum ? ['x'] : [])],
            outputs: ['y'],
            attrs: { ...conv, activation: attr.string(activation), ...(p.length ? { activation_params: attr.floats(p) } : {}) },
          },
        ],
      });
      const act: { opType: string; inputs: string[]; outputs: string[]; attrs: Attributes } =
        activation === 'Clip'
          ? { opType: 'Clip', inputs: ['s', 'lo', 'hi'], outputs: ['y'], attrs: {} }
          : {
              opType: activation,
              inputs: ['s'],
              outputs: ['y'],
              attrs:
                activation === 'LeakyRelu'
                  ? { alpha: attr.float(p[0] as number) }
                  : activation === 'HardSigmoid'
                    ? { alpha: attr.float(p[0] as number), beta: attr.float(p[1] as number) }
                    : {},
            };
      const plain = graphModel({
        x: [4, 5, 5],
        opset: 13,
        initializers: { w, b, lo: floats([p[0] ?? 0], []), hi: floats([p[1] ?? 0], []) },
        nodes: [
          { opType: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: conv },
          withSum ? { opType: 'Add', inputs: ['c', 'x'], outputs: ['s'], attrs: {} } : { opType: 'Identity', inputs: ['c'], outputs: ['s'], attrs: {} },
          act,
        ],
      });
      const x = { data: seededNormal(31, 2 * 100), dims: [2, 4, 5, 5] };
      const seed = (dims: number[]) => seededNormal(32, size(dims));
      const a = await gradientAndForward(fused, x, seed);
      const r = await gradientAndForward(plain, x, seed);
      assert.ok(maxAbs(r.grad.data) > 0);
      assert.ok(relErr(a.grad.data, r.grad.data) <= 1e-6, `relative error ${relErr(a.grad.data, r.grad.data)}`);
    });
  }
}
