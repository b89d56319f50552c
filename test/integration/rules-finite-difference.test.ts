// Nonlinear rules against central differences in float32: for L(x) = Σ seed·y(x) and random
// directions d, (L(x + h·d) − L(x − h·d)) / 2h ≈ ⟨∂L/∂x, d⟩. Inputs are kept away from kinks
// (further than 10·h·max|d| from a threshold) and, for max-type ops, from ties.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BackwardPolicy } from '../../src/gradgraph/policy.js';
import { attr, type Attributes } from '../../src/onnx/attributes.js';
import { type Model } from '../../src/onnx/ir.js';
import { type FloatTensor } from '../../src/runtime/ort.js';
import {
  type ConstInput,
  GradHarness,
  type OpInput,
  dot,
  gradientAndForward,
  graphModel,
  maxAbs,
  seededNormal,
  seededPermutation,
  singleOp,
  size,
} from '../helpers/tiny-graph.js';

const floats = (values: readonly number[], dims: readonly number[]): ConstInput => ({ float: values, dims });
const ints = (values: readonly number[], dims?: readonly number[]): ConstInput => ({ int64: values, ...(dims ? { dims } : {}) });
let constSeed = 500;
const rnd = (dims: readonly number[], scale = 1, offset = 0): ConstInput => ({ float: seededNormal(constSeed++, size(dims)).map((v) => v * scale + offset), dims });

function op(opType: string, opset: number, x: readonly number[], inputs: readonly OpInput[] = ['x'], attrs: Attributes = {}): Model {
  return singleOp(opType, { x, opset, inputs, attrs });
}

/** Samples x (standard normal, or `make`'s), then pushes values within `margin` of a kink away. */
type Sampler = (n: number, seed: number) => Float32Array;
const normal: Sampler = (n, seed) => seededNormal(seed, n);
const scaled = (s: number, shift = 0): Sampler => (n, seed) => seededNormal(seed, n).map((v) => v * s + shift);
/** Moves every value closer than `margin` to one of `kinks` to kink ± margin (same side). */
const awayFrom = (kinks: readonly number[], margin: number, base: Sampler = normal): Sampler => (n, seed) =>
  base(n, seed).map((v) => {
    for (const k of kinks) if (Math.abs(v - k) < margin) return v >= k ? k + margin : k - margin;
    return v;
  });
/** Distinct values (a shuffled grid with spacing `gap`): no ties for max-type ops. */
const distinct = (gap: number): Sampler => (n, seed) => Float32Array.from(seededPermutation(seed, n), (p) => (p - n / 2) * gap);
const positive = (min: number): Sampler => (n, seed) => seededNormal(seed, n).map((v) => Math.abs(v) + min);
const awayFromZero = (min: number): Sampler => (n, seed) => seededNormal(seed, n).map((v) => (v >= 0 ? v + min : v - min));

interface FdCase {
  name: string;
  model: Model;
  sample?: Sampler;
  /** Finite-difference step. */
  step?: number;
  tol?: number;
  todo?: string;
  /** Only for the harness's own check (a deliberately wrong rule). */
  policy?: BackwardPolicy;
}

const cases: FdCase[] = [];
const add = (c: FdCase) => cases.push(c);

/** Directions are clipped to |d| ≤ 3, so a margin of 10·h keeps x ± h·d off the kink. */
const DMAX = 3;

async function checkFiniteDifferences(c: FdCase, batch = 2, directions = 3): Promise<void> {
  const step = c.step ?? 1e-2;
  const tol = c.tol ?? 1e-2;
  const h = await GradHarness.create(c.model, { explainSoftmaxInput: false, ...(c.policy ? { policy: c.policy } : {}) });
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
    const L = async (data: Float32Array) => dot((await h.forward({ data, dims })).data, seed.data);
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
      assert.ok(err <= tol, `direction ${k}: finite difference ${fd / (2 * step)}, analytic ${analytic / (2 * step)}, relative error ${err.toExponential(2)} > ${tol}`);
    }
  } finally {
    await h.release();
  }
}

// ---------------------------------------------------------------- activations
{
  const x = [3, 5, 5];
  const h = 1e-2;
  const m = 10 * h * DMAX;
  add({ name: 'Relu', model: op('Relu', 13, x), sample: awayFrom([0], m) });
  add({ name: 'LeakyRelu alpha 0.1', model: op('LeakyRelu', 13, x, ['x'], { alpha: attr.float(0.1) }), sample: awayFrom([0], m) });
  add({ name: 'LeakyRelu default alpha', model: op('LeakyRelu', 11, x), sample: awayFrom([0], m) });
  add({ name: 'Clip opset 11, min only', model: op('Clip', 11, x, ['x', floats([-0.3], [])]), sample: awayFrom([-0.3], m) });
  add({ name: 'Clip opset 11, max only', model: op('Clip', 11, x, ['x', '', floats([0.4], [])]), sample: awayFrom([0.4], m) });
  add({ name: 'Clip opset 11, min and max', model: op('Clip', 11, x, ['x', floats([-0.5], []), floats([0.7], [])]), sample: awayFrom([-0.5, 0.7], m) });
  add({ name: 'Clip opset 13, min and max (ReLU6-like)', model: op('Clip', 13, x, ['x', floats([0], []), floats([1], [])]), sample: awayFrom([0, 1], m) });
  add({ name: 'Clip opset 13, max only', model: op('Clip', 13, x, ['x', '', floats([0.2], [])]), sample: awayFrom([0.2], m) });
  add({ name: 'Clip opset 13, no bounds (identity)', model: op('Clip', 13, x) });
  add({ name: 'Sigmoid', model: op('Sigmoid', 13, x), sample: scaled(2) });
  add({ name: 'Tanh', model: op('Tanh', 13, x), sample: scaled(1.5) });
  add({
    name: 'HardSigmoid alpha 0.5 beta 0.6 (kinks at −1.2 and 0.8)',
    model: op('HardSigmoid', 13, x, ['x'], { alpha: attr.float(0.5), beta: attr.float(0.6) }),
    sample: awayFrom([-1.2, 0.8], m, scaled(1.5)),
  });
  add({ name: 'HardSigmoid defaults (kinks at ±2.5)', model: op('HardSigmoid', 11, x), sample: awayFrom([-2.5, 2.5], m, scaled(2.5)) });
  add({ name: 'HardSwish opset 14 (kinks at ±3)', model: op('HardSwish', 14, x), sample: awayFrom([-3, 3], m, scaled(3)) });
  add({ name: 'Erf', model: op('Erf', 13, x) });
  add({ name: 'Exp', model: op('Exp', 13, x) });
  add({ name: 'Sqrt (positive inputs)', model: op('Sqrt', 13, x), sample: positive(0.3) });
  add({ name: 'Reciprocal (|x| ≥ 0.5)', model: op('Reciprocal', 13, x), sample: awayFromZero(0.5), step: 1e-3 });
  add({ name: 'Log (positive inputs)', model: op('Log', 13, x), sample: positive(0.5), step: 1e-3 });
}

// ---------------------------------------------------------------- Softmax / LogSoftmax / LayerNorm
{
  const x4 = [3, 4, 5];
  add({ name: 'Softmax opset 11 axis 1 on a 4-D input (flattening semantics)', model: op('Softmax', 11, x4, ['x'], { axis: attr.int(1) }), sample: scaled(2) });
  add({ name: 'Softmax opset 11 default axis on a 4-D input', model: op('Softmax', 11, x4), sample: scaled(2) });
  add({ name: 'Softmax opset 11 axis -1', model: op('Softmax', 11, x4, ['x'], { axis: attr.int(-1) }), sample: scaled(2) });
  add({ name: 'Softmax opset 13 axis 1 on a 4-D input (one axis)', model: op('Softmax', 13, x4, ['x'], { axis: attr.int(1) }), sample: scaled(2) });
  add({ name: 'Softmax opset 13 axis -1', model: op('Softmax', 13, x4, ['x'], { axis: attr.int(-1) }), sample: scaled(2) });
  add({ name: 'Softmax opset 13 default axis on 2-D', model: op('Softmax', 13, [7]), sample: scaled(2) });
  add({ name: 'LogSoftmax opset 11 axis 1 on a 4-D input', model: op('LogSoftmax', 11, x4, ['x'], { axis: attr.int(1) }), sample: scaled(2) });
  add({ name: 'LogSoftmax opset 13 axis 1 on a 4-D input', model: op('LogSoftmax', 13, x4, ['x'], { axis: attr.int(1) }), sample: scaled(2) });
  add({ name: 'LogSoftmax opset 13 default axis', model: op('LogSoftmax', 13, x4), sample: scaled(2) });
  add({ name: 'LayerNormalization opset 17 axis -1', model: op('LayerNormalization', 17, x4, ['x', rnd([5], 0.5, 1), rnd([5])]) });
  add({ name: 'LayerNormalization opset 17 axis 2 (two axes), epsilon 1e-3', model: op('LayerNormalization', 17, x4, ['x', rnd([4, 5], 0.5, 1), rnd([4, 5])], { axis: attr.int(2), epsilon: attr.float(1e-3) }) });
  add({ name: 'LayerNormalization opset 17 axis 1, no bias', model: op('LayerNormalization', 17, x4, ['x', rnd([3, 4, 5], 0.5, 1)], { axis: attr.int(1) }) });
}

// ---------------------------------------------------------------- max-type ops (distinct values)
{
  const gap = 0.02;
  const h = 1e-3; // h·DMAX < gap/2: no window's winner changes
  const mp = (name: string, x: number[], a: Attributes, opset = 13) =>
    add({ name: `MaxPool ${name}`, model: op('MaxPool', opset, x, ['x'], a), sample: distinct(gap), step: h });
  const k = (n: number) => attr.ints([n, n]);
  mp('2x2 s2 on 8x8', [3, 8, 8], { kernel_shape: k(2), strides: attr.ints([2, 2]) });
  mp('2x2 s2 on 7x7 (last row/col unused)', [3, 7, 7], { kernel_shape: k(2), strides: attr.ints([2, 2]) });
  mp('3x3 s2 p1 overlapping on 8x8', [3, 8, 8], { kernel_shape: k(3), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) });
  mp('3x3 s2 ceil_mode 1 on 8x8', [3, 8, 8], { kernel_shape: k(3), strides: attr.ints([2, 2]), ceil_mode: attr.int(1) });
  mp('3x3 s2 p1 ceil_mode 1 on 8x8', [3, 8, 8], { kernel_shape: k(3), strides: attr.ints([2, 2]), ceil_mode: attr.int(1), pads: attr.ints([1, 1, 1, 1]) });
  mp('3x3 s1 p1 on 6x7', [3, 6, 7], { kernel_shape: k(3), pads: attr.ints([1, 1, 1, 1]) });
  mp('3x3 s2 asymmetric pads [0,1,1,0] on 7x8', [2, 7, 8], { kernel_shape: k(3), strides: attr.ints([2, 2]), pads: attr.ints([0, 1, 1, 0]) });
  mp('3x3 s2 auto_pad SAME_UPPER on 7x8', [2, 7, 8], { kernel_shape: k(3), strides: attr.ints([2, 2]), auto_pad: attr.string('SAME_UPPER') });
  mp('3x3 s2 auto_pad SAME_LOWER on 7x8', [2, 7, 8], { kernel_shape: k(3), strides: attr.ints([2, 2]), auto_pad: attr.string('SAME_LOWER') });
  mp('3x3 dilations 2 on 9x9', [2, 9, 9], { kernel_shape: k(3), dilations: attr.ints([2, 2]) });
  mp('2x3 kernel strides (1,2) on 6x7', [2, 6, 7], { kernel_shape: attr.ints([2, 3]), strides: attr.ints([1, 2]) });
  // A window row wider than the image row (pads 2 each side on a width of 2): the offsets are
  // decoded into row and column first (the one-comparison shortcut would be ambiguous).
  mp('1x5 kernel p(0,2) on 3x2 (window wider than the image)', [2, 3, 2], { kernel_shape: attr.ints([1, 5]), pads: attr.ints([0, 2, 0, 2]) });
  mp('3x3 s2 p1 opset 11', [3, 8, 8], { kernel_shape: k(3), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) }, 11);
  add({ name: 'GlobalMaxPool', model: op('GlobalMaxPool', 13, [3, 5, 6]), sample: distinct(gap), step: h });
  add({ name: 'ReduceMax axes [1], keepdims 1', model: op('ReduceMax', 13, [3, 4, 5], ['x'], { axes: attr.ints([1]), keepdims: attr.int(1) }), sample: distinct(gap), step: h });
  add({ name: 'ReduceMax axes [2,3], keepdims 0', model: op('ReduceMax', 13, [3, 4, 5], ['x'], { axes: attr.ints([2, 3]), keepdims: attr.int(0) }), sample: distinct(gap), step: h });
  add({ name: 'ReduceMax opset 18 axes input [-1], keepdims 0', model: op('ReduceMax', 18, [3, 4, 5], ['x', ints([-1])], { keepdims: attr.int(0) }), sample: distinct(gap), step: h });
  add({ name: 'ReduceMin axes [1]', model: op('ReduceMin', 13, [3, 4, 5], ['x'], { axes: attr.ints([1]), keepdims: attr.int(0) }), sample: distinct(gap), step: h });
  add({ name: 'ReduceL2 axes [2,3], keepdims 1', model: op('ReduceL2', 13, [3, 4, 5], ['x'], { axes: attr.ints([2, 3]), keepdims: attr.int(1) }) });
  add({ name: 'ReduceL2 axes [1], keepdims 0', model: op('ReduceL2', 13, [3, 4, 5], ['x'], { axes: attr.ints([1]), keepdims: attr.int(0) }) });
}

// ---------------------------------------------------------------- products, quotients, powers, Where
{
  const x = [3, 4, 5];
  add({ name: 'Mul x·x', model: op('Mul', 13, x, ['x', 'x']) });
  add({
    name: 'Div x / (x·x + 1)',
    model: graphModel({
      x,
      opset: 13,
      initializers: { one: floats([1], []) },
      nodes: [
        { opType: 'Mul', inputs: ['x', 'x'], outputs: ['sq'], attrs: {} },
        { opType: 'Add', inputs: ['sq', 'one'], outputs: ['den'], attrs: {} },
        { opType: 'Div', inputs: ['x', 'den'], outputs: ['y'], attrs: {} },
      ],
    }),
  });
  add({ name: 'Div c / x (|x| ≥ 0.5)', model: op('Div', 13, x, [rnd([5]), 'x']), sample: awayFromZero(0.5), step: 1e-3 });
  add({ name: 'Pow x^2 (constant exponent)', model: op('Pow', 13, x, ['x', floats([2], [])]) });
  add({ name: 'Pow x^3 (constant exponent)', model: op('Pow', 13, x, ['x', floats([3], [])]) });
  add({ name: 'Pow x^0.5 on positive x', model: op('Pow', 13, x, ['x', floats([0.5], [])]), sample: positive(0.3), step: 1e-3 });
  const cond: ConstInput = { bool: Array.from(seededNormal(77, size(x)), (v) => v > 0), dims: x };
  add({
    name: 'Where(cond, x·x, x): x in both branches',
    model: graphModel({
      x,
      opset: 13,
      initializers: { cond },
      nodes: [
        { opType: 'Mul', inputs: ['x', 'x'], outputs: ['sq'], attrs: {} },
        { opType: 'Where', inputs: ['cond', 'sq', 'x'], outputs: ['y'], attrs: {} },
      ],
    }),
  });
  add({
    name: 'Where(cond[5], Exp(x), Tanh(x)): broadcast condition',
    model: graphModel({
      x,
      opset: 13,
      initializers: { cond: { bool: [true, false, false, true, true], dims: [5] } },
      nodes: [
        { opType: 'Exp', inputs: ['x'], outputs: ['e'], attrs: {} },
        { opType: 'Tanh', inputs: ['x'], outputs: ['t'], attrs: {} },
        { opType: 'Where', inputs: ['cond', 'e', 't'], outputs: ['y'], attrs: {} },
      ],
    }),
  });
  add({
    name: 'MatMul of two activations x·xᵀ',
    model: graphModel({
      x: [4, 5],
      opset: 13,
      nodes: [
        { opType: 'Transpose', inputs: ['x'], outputs: ['xt'], attrs: { perm: attr.ints([0, 2, 1]) } },
        { opType: 'MatMul', inputs: ['x', 'xt'], outputs: ['y'], attrs: {} },
      ],
    }),
  });
  add({
    name: 'Mul with broadcasting of two activations x[N,3,4,5]·ReduceMean(x)[N,3,1,1]',
    model: graphModel({
      x,
      opset: 13,
      nodes: [
        { opType: 'ReduceMean', inputs: ['x'], outputs: ['m'], attrs: { axes: attr.ints([2, 3]), keepdims: attr.int(1) } },
        { opType: 'Mul', inputs: ['x', 'm'], outputs: ['y'], attrs: {} },
      ],
    }),
  });
}

for (const c of cases) {
  test(`finite differences: ${c.name}`, c.todo ? { todo: c.todo } : {}, async () => {
    await checkFiniteDifferences(c);
  });
}

test('finite-difference cases cover every nonlinear rule the compiler supports', () => {
  const ops = new Set(cases.flatMap((c) => c.model.graph.nodes.map((n) => n.opType)));
  for (const name of ['Relu', 'LeakyRelu', 'Clip', 'Sigmoid', 'Tanh', 'HardSigmoid', 'HardSwish', 'Erf', 'Softmax', 'LogSoftmax', 'MaxPool', 'GlobalMaxPool', 'ReduceMax', 'ReduceL2', 'LayerNormalization', 'Mul', 'Div', 'Pow', 'Sqrt', 'Exp', 'Reciprocal', 'Where']) {
    assert.ok(ops.has(name), `no finite-difference case for ${name}`);
  }
});

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
  await assert.rejects(checkFiniteDifferences({ name: 'wrong Tanh', model: op('Tanh', 13, [3, 5, 5]), sample: scaled(1.5), policy: wrongTanh }), /relative error/);
});

// ---------------------------------------------------------------- exact tie-breaking
// (Expected values are compared after `v + 0`, which turns the runtime's −0 into 0.)

// Opset 13 uses the offset masks + grouped ConvTranspose; from 16 on, ScatterElements(add).
for (const opset of [13, 17]) {
  test(`MaxPool 3x3 s2 with planted ties (opset ${opset}): each window gives its whole gradient to its first maximum in raster order`, async () => {
    // 5x5 plane, windows at rows/cols {0..2, 2..4}; they share row 2 / col 2.
    const x = Float32Array.from({ length: 25 }, (_, i) => -1 - i / 100); // distinct, all below the planted 5s
    const at = (r: number, c: number) => r * 5 + c;
    for (const [r, c] of [[0, 1], [1, 0], [0, 3], [2, 2], [3, 0], [4, 4]] as const) x[at(r, c)] = 5;
    // Window (0,0): 5s at (0,1), (1,0), (2,2) → (0,1).  Window (0,1): (0,3), (2,2) → (0,3).
    // Window (1,0): (2,2), (3,0) → (2,2).                 Window (1,1): (2,2), (4,4) → (2,2).
    const model = op('MaxPool', opset, [1, 5, 5], ['x'], { kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]) });
    const { y, grad } = await gradientAndForward(model, { data: x, dims: [1, 1, 5, 5] }, Float32Array.from([1, 2, 3, 4]));
    assert.deepEqual(Array.from(y.data), [5, 5, 5, 5]);
    const expected = new Array<number>(25).fill(0);
    expected[at(0, 1)] = 1;
    expected[at(0, 3)] = 2;
    expected[at(2, 2)] = 3 + 4;
    assert.deepEqual(Array.from(grad.data, (v) => v + 0), expected);
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
    assert.deepEqual(Array.from(grad.data, (v) => v + 0), expected);
  });
}

test('GlobalMaxPool with ties: the first maximum in raster order takes the gradient', async () => {
  const x = Float32Array.from([0, 3, 1, 3, 2, 3, /* channel 1 */ 7, -1, 7, 7, 0, 0]);
  const model = op('GlobalMaxPool', 13, [2, 2, 3]);
  const { grad } = await gradientAndForward(model, { data: x, dims: [1, 2, 2, 3] }, Float32Array.from([2, -5]));
  assert.deepEqual(Array.from(grad.data, (v) => v + 0), [0, 2, 0, 0, 0, 0, -5, 0, 0, 0, 0, 0]);
});

test('ReduceMax with ties shares the gradient evenly (PyTorch amax)', async () => {
  const x = Float32Array.from([1, 4, 4, 0, /* row 2 */ 2, 2, 2, 2]);
  const model = op('ReduceMax', 13, [2, 4], ['x'], { axes: attr.ints([2]), keepdims: attr.int(0) });
  const { grad } = await gradientAndForward(model, { data: x, dims: [1, 2, 4] }, Float32Array.from([6, 8]));
  assert.deepEqual(Array.from(grad.data, (v) => v + 0), [0, 3, 3, 0, 2, 2, 2, 2]);
});

test('Relu at exactly 0 passes no gradient (strict x > 0)', async () => {
  const x = Float32Array.from([0, 1, -1, 0, 2, -0, 1e-30, -1e-30]);
  const { grad } = await gradientAndForward(op('Relu', 13, [8]), { data: x, dims: [1, 8] }, Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]));
  assert.deepEqual(Array.from(grad.data, (v) => v + 0), [0, 2, 0, 0, 5, 0, 7, 0]);
});

test('LeakyRelu at exactly 0 takes the negative slope', async () => {
  const x = Float32Array.from([0, 1, -1]);
  const { grad } = await gradientAndForward(op('LeakyRelu', 13, [3], ['x'], { alpha: attr.float(0.25) }), { data: x, dims: [1, 3] }, Float32Array.from([4, 4, 4]));
  assert.deepEqual(Array.from(grad.data, (v) => v + 0), [1, 4, 1]);
});

test('Clip at exactly its bounds passes no gradient (strict inequalities)', async () => {
  const x = Float32Array.from([-1, -0.5, 0, 0.5, 1]);
  const model = op('Clip', 13, [5], ['x', floats([-0.5], []), floats([0.5], [])]);
  const { grad } = await gradientAndForward(model, { data: x, dims: [1, 5] }, Float32Array.from([1, 1, 1, 1, 1]));
  assert.deepEqual(Array.from(grad.data, (v) => v + 0), [0, 0, 1, 0, 0]);
});

test('the seed scales the gradient linearly (sanity check of the finite-difference harness)', async () => {
  const x = seededNormal(5, 2 * 12);
  const model = op('Tanh', 13, [12]);
  const one = await gradientAndForward(model, { data: x, dims: [2, 12] }, (dims) => new Float32Array(size(dims)).fill(1));
  const three = await gradientAndForward(model, { data: x, dims: [2, 12] }, (dims) => new Float32Array(size(dims)).fill(3));
  assert.ok(maxAbs(one.grad.data) > 0);
  one.grad.data.forEach((v, i) => assert.ok(Math.abs(3 * v - (three.grad.data[i] as number)) <= 1e-6, `element ${i}`));
});
