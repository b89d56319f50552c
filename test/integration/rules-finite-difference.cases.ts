// The finite-difference cases: nonlinear rules on tiny graphs, inputs kept away from kinks and ties.
// Each case declares the op it covers (`op`): the registry coverage test reads it.
import { type BackwardPolicy } from '../../src/gradgraph/policy.js';
import { attr, type Attributes } from '../../src/onnx/attributes.js';
import { type Model } from '../../src/onnx/ir.js';
import { type ConstInput, MICROSOFT, type OpInput, graphModel, seededNormal, seededPermutation, singleOp, size } from '../helpers/tiny-graph.js';

export const floats = (values: readonly number[], dims: readonly number[]): ConstInput => ({ float: values, dims });
const ints = (values: readonly number[], dims?: readonly number[]): ConstInput => ({ int64: values, ...(dims ? { dims } : {}) });
let constSeed = 500;
const rnd = (dims: readonly number[], scale = 1, offset = 0): ConstInput => ({
  float: seededNormal(constSeed++, size(dims)).map((v) => v * scale + offset),
  dims,
});

export function op(opType: string, opset: number, x: readonly number[], inputs: readonly OpInput[] = ['x'], attrs: Attributes = {}): Model {
  return singleOp(opType, { x, opset, inputs, attrs });
}

/** Samples x (standard normal, or `make`'s), then pushes values within `margin` of a kink away. */
export type Sampler = (n: number, seed: number) => Float32Array;
export const normal: Sampler = (n, seed) => seededNormal(seed, n);
export const scaled =
  (s: number, shift = 0): Sampler =>
  (n, seed) =>
    seededNormal(seed, n).map((v) => v * s + shift);
/** Moves every value closer than `margin` to one of `kinks` to kink ± margin (same side). */
const awayFrom =
  (kinks: readonly number[], margin: number, base: Sampler = normal): Sampler =>
  (n, seed) =>
    base(n, seed).map((v) => {
      for (const k of kinks) if (Math.abs(v - k) < margin) return v >= k ? k + margin : k - margin;
      return v;
    });
/** Distinct values (a shuffled grid with spacing `gap`): no ties for max-type ops. */
const distinct =
  (gap: number): Sampler =>
  (n, seed) =>
    Float32Array.from(seededPermutation(seed, n), (p) => (p - n / 2) * gap);
const positive =
  (min: number): Sampler =>
  (n, seed) =>
    seededNormal(seed, n).map((v) => Math.abs(v) + min);
const awayFromZero =
  (min: number): Sampler =>
  (n, seed) =>
    seededNormal(seed, n).map((v) => (v >= 0 ? v + min : v - min));

export interface FdCase {
  name: string;
  /** The op type (and domain, '' for ONNX) whose rule the case checks. */
  op?: string;
  domain?: string;
  model: Model;
  sample?: Sampler;
  /** Finite-difference step. */
  step?: number;
  tol?: number;
  todo?: string;
  /** Only for the harness's own check (a deliberately wrong rule). */
  policy?: BackwardPolicy;
  /**
   * The model whose finite differences the gradient must match, when not the model itself: a
   * straight-through rule (quantization) is checked against the unquantized graph.
   */
  reference?: Model;
}

export const fdCases: FdCase[] = [];
/**
 * A case of a one-node model covers that node's op; a model of several nodes names the op it
 * is about (`covers`), which must be one of its nodes.
 */
const add = (c: Omit<FdCase, 'op' | 'domain'> & { covers?: string }) => {
  const nodes = c.model.graph.nodes;
  const node = c.covers ? nodes.find((n) => n.opType === c.covers) : nodes.length === 1 ? nodes[0] : undefined;
  if (!node) throw new Error(`finite-difference case ${c.name}: say which of its ${nodes.length} nodes it covers`);
  const { covers: _covers, ...rest } = c;
  fdCases.push({ ...rest, op: node.opType, domain: node.domain });
};

/** Directions are clipped to |d| ≤ 3, so a margin of 10·h keeps x ± h·d off the kink. */
export const DMAX = 3;

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
  add({
    name: 'LayerNormalization opset 17 axis 2 (two axes), epsilon 1e-3',
    model: op('LayerNormalization', 17, x4, ['x', rnd([4, 5], 0.5, 1), rnd([4, 5])], { axis: attr.int(2), epsilon: attr.float(1e-3) }),
  });
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
  add({
    name: 'ReduceMax axes [1], keepdims 1',
    model: op('ReduceMax', 13, [3, 4, 5], ['x'], { axes: attr.ints([1]), keepdims: attr.int(1) }),
    sample: distinct(gap),
    step: h,
  });
  add({
    name: 'ReduceMax axes [2,3], keepdims 0',
    model: op('ReduceMax', 13, [3, 4, 5], ['x'], { axes: attr.ints([2, 3]), keepdims: attr.int(0) }),
    sample: distinct(gap),
    step: h,
  });
  add({
    name: 'ReduceMax opset 18 axes input [-1], keepdims 0',
    model: op('ReduceMax', 18, [3, 4, 5], ['x', ints([-1])], { keepdims: attr.int(0) }),
    sample: distinct(gap),
    step: h,
  });
  add({
    name: 'ReduceMin axes [1]',
    model: op('ReduceMin', 13, [3, 4, 5], ['x'], { axes: attr.ints([1]), keepdims: attr.int(0) }),
    sample: distinct(gap),
    step: h,
  });
  add({ name: 'ReduceL2 axes [2,3], keepdims 1', model: op('ReduceL2', 13, [3, 4, 5], ['x'], { axes: attr.ints([2, 3]), keepdims: attr.int(1) }) });
  add({ name: 'ReduceL2 axes [1], keepdims 0', model: op('ReduceL2', 13, [3, 4, 5], ['x'], { axes: attr.ints([1]), keepdims: attr.int(0) }) });
}

// ---------------------------------------------------------------- products, quotients, powers, Where
{
  const x = [3, 4, 5];
  add({ name: 'Mul x·x', model: op('Mul', 13, x, ['x', 'x']) });
  add({
    name: 'Div x / (x·x + 1)',
    covers: 'Div',
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
    covers: 'Where',
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
    covers: 'Where',
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
    covers: 'MatMul',
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
    covers: 'Mul',
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

/** A com.microsoft contrib op from 'x' (and constants) to 'y'. */
function contrib(opType: string, x: readonly number[], inputs: readonly OpInput[] = ['x'], attrs: Attributes = {}, opset = 13): Model {
  return singleOp(opType, { x, opset, inputs, attrs, domain: MICROSOFT.domain });
}

// ---------------------------------------------------------------- more activations
{
  const x = [3, 5, 5];
  const h = 1e-2;
  const m = 10 * h * DMAX;
  add({ name: 'Gelu opset 20 (exact)', model: op('Gelu', 20, x), sample: scaled(2) });
  add({ name: 'Gelu opset 20 approximate tanh', model: op('Gelu', 20, x, ['x'], { approximate: attr.string('tanh') }), sample: scaled(2) });
  add({ name: 'Elu alpha 0.7 (kink at 0)', model: op('Elu', 13, x, ['x'], { alpha: attr.float(0.7) }), sample: awayFrom([0], m) });
  add({ name: 'Selu defaults', model: op('Selu', 13, x), sample: awayFrom([0], m) });
  add({ name: 'Celu alpha 0.5', model: op('Celu', 13, x, ['x'], { alpha: attr.float(0.5) }), sample: awayFrom([0], m) });
  add({ name: 'Softplus', model: op('Softplus', 13, x), sample: scaled(2) });
  add({ name: 'Softsign', model: op('Softsign', 13, x), sample: awayFrom([0], m, scaled(2)) });
  add({ name: 'Mish opset 18', model: op('Mish', 18, x), sample: scaled(2) });
  add({ name: 'ThresholdedRelu alpha 0.4', model: op('ThresholdedRelu', 13, x, ['x'], { alpha: attr.float(0.4) }), sample: awayFrom([0.4], m) });
  add({ name: 'Abs', model: op('Abs', 13, x), sample: awayFrom([0], m) });
  add({ name: 'PRelu slope per channel [3,1,1]', model: op('PRelu', 13, x, ['x', rnd([3, 1, 1], 0.3)]), sample: awayFrom([0], m) });
  add({ name: 'PRelu scalar-like slope [1] (opset 9 form kept at 16)', model: op('PRelu', 16, x, ['x', floats([0.2], [1])]), sample: awayFrom([0], m) });
  add({ name: 'PRelu slope [5] over the last axis', model: op('PRelu', 13, x, ['x', rnd([5], 0.3)]), sample: awayFrom([0], m) });
}

// ---------------------------------------------------------------- variadic Min / Max (distinct values)
{
  const gap = 0.02;
  const step = 1e-3;
  // Constants on the grid shifted by half a gap: never within gap/2 of an x value.
  const offGrid = (dims: number[], seed: number): ConstInput => ({
    float: seededPermutation(seed, size(dims)).map((p) => (p - size(dims) / 2 + 0.5) * gap * 7),
    dims,
  });
  add({ name: 'Max(x, c[5]) broadcasting', model: op('Max', 13, [3, 4, 5], ['x', offGrid([5], 71)]), sample: distinct(gap), step });
  add({
    name: 'Min(x, c[4,1], c2[5]) three operands',
    model: op('Min', 13, [3, 4, 5], ['x', offGrid([4, 1], 72), offGrid([5], 73)]),
    sample: distinct(gap),
    step,
  });
  add({
    name: 'Max(x, Neg(x), c) with x in two operands',
    covers: 'Max',
    model: graphModel({
      x: [3, 4, 5],
      opset: 13,
      initializers: { c: rnd([5], 0.5) },
      nodes: [
        { opType: 'Neg', inputs: ['x'], outputs: ['nx'], attrs: {} },
        { opType: 'Max', inputs: ['x', 'nx', 'c'], outputs: ['y'], attrs: {} },
      ],
    }),
    sample: awayFrom([0], 0.05, distinct(gap)),
    step,
  });
  add({ name: 'Max of one operand (identity)', model: op('Max', 13, [3, 4]), step });
}

// ---------------------------------------------------------------- more reductions
{
  const x = [3, 4, 5];
  add({
    name: 'ReduceProd axes [2] keepdims 0 (values away from 0)',
    model: op('ReduceProd', 13, x, ['x'], { axes: attr.ints([2]), keepdims: attr.int(0) }),
    sample: awayFromZero(0.5),
    step: 1e-3,
  });
  add({ name: 'ReduceProd opset 18 axes input [1,2]', model: op('ReduceProd', 18, [2, 3], ['x', ints([1, 2])]), sample: awayFromZero(0.5), step: 1e-3 });
  add({ name: 'ReduceLogSumExp axes [1]', model: op('ReduceLogSumExp', 13, x, ['x'], { axes: attr.ints([1]) }), sample: scaled(2) });
  add({ name: 'ReduceLogSumExp opset 18 all axes keepdims 0', model: op('ReduceLogSumExp', 18, x, ['x'], { keepdims: attr.int(0) }) });
  add({ name: 'ReduceSumSquare axes [2,3]', model: op('ReduceSumSquare', 13, x, ['x'], { axes: attr.ints([2, 3]) }) });
  add({
    name: 'ReduceL1 axes [-1] keepdims 0',
    model: op('ReduceL1', 13, x, ['x'], { axes: attr.ints([-1]), keepdims: attr.int(0) }),
    sample: awayFrom([0], 0.3),
  });
  add({ name: 'ReduceLogSum axes [1] (positive inputs)', model: op('ReduceLogSum', 13, x, ['x'], { axes: attr.ints([1]) }), sample: positive(0.5) });
}

// ---------------------------------------------------------------- Instance / Group normalization, LRN
{
  const x = [4, 3, 5];
  add({
    name: 'InstanceNormalization epsilon 1e-3',
    model: op('InstanceNormalization', 13, x, ['x', rnd([4], 0.5, 1), rnd([4])], { epsilon: attr.float(1e-3) }),
  });
  add({
    name: 'GroupNormalization opset 21, 2 groups, per-channel scale',
    model: op('GroupNormalization', 21, x, ['x', rnd([4], 0.5, 1), rnd([4])], { num_groups: attr.int(2) }),
  });
  add({
    name: 'GroupNormalization opset 18, 2 groups, per-group scale',
    model: op('GroupNormalization', 18, x, ['x', rnd([2], 0.5, 1), rnd([2])], { num_groups: attr.int(2), epsilon: attr.float(1e-3) }),
  });
  add({
    name: 'LRN size 3 (AlexNet-like constants, scaled up)',
    model: op('LRN', 13, [5, 3, 3], ['x'], { size: attr.int(3), alpha: attr.float(0.5), beta: attr.float(0.75), bias: attr.float(2) }),
    sample: scaled(2),
  });
  add({
    name: 'LRN size 5, bias 1, opset 11',
    model: op('LRN', 11, [6, 2, 3], ['x'], { size: attr.int(5), alpha: attr.float(0.3), beta: attr.float(0.5) }),
    sample: scaled(2),
  });
}

// ---------------------------------------------------------------- com.microsoft contrib ops
{
  const x = [3, 6, 6];
  const w = rnd([4, 3, 3, 3], 0.3);
  const bias = rnd([4], 0.1);
  const conv = { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) };
  // Pre-activations are not inputs: keep FusedConv's away from kinks through a small step and
  // inputs that put few values near them (checked by the finite differences themselves).
  const fused = (activation: string, params: number[] = []) =>
    contrib('FusedConv', x, ['x', w, bias], {
      ...conv,
      activation: attr.string(activation),
      ...(params.length ? { activation_params: attr.floats(params) } : {}),
    });
  add({ name: 'FusedConv activation Relu', model: fused('Relu'), step: 1e-3 });
  add({ name: 'FusedConv activation Clip [−1.5, 1.5]', model: fused('Clip', [-1.5, 1.5]), step: 3e-4 });
  add({ name: 'FusedConv activation HardSigmoid [0.2, 0.5]', model: fused('HardSigmoid', [0.2, 0.5]), step: 1e-3 });
  add({ name: 'FusedConv activation Sigmoid', model: fused('Sigmoid') });
  add({ name: 'FusedConv activation LeakyRelu [0.1]', model: fused('LeakyRelu', [0.1]), step: 1e-3 });
  add({ name: 'FusedConv activation Tanh', model: fused('Tanh') });
  add({ name: 'FusedConv no activation, s2', model: contrib('FusedConv', x, ['x', w], { kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]) }) });
  add({
    name: 'FusedConv Relu with the residual sum Z = x (Conv + Add + Relu)',
    covers: 'FusedConv',
    model: graphModel({
      x: [4, 5, 5],
      opset: 13,
      initializers: { w: rnd([4, 4, 3, 3], 0.3), b: rnd([4], 0.1) },
      nodes: [
        { opType: 'FusedConv', domain: MICROSOFT.domain, inputs: ['x', 'w', 'b', 'x'], outputs: ['y'], attrs: { ...conv, activation: attr.string('Relu') } },
      ],
    }),
    step: 3e-4,
  });
  add({
    name: 'FusedGemm activation Relu, transB',
    model: contrib('FusedGemm', [6], ['x', rnd([4, 6]), rnd([4])], { transB: attr.int(1), activation: attr.string('Relu') }),
    sample: scaled(1),
    step: 1e-3,
  });
  add({
    name: 'FusedGemm activation LeakyRelu alpha 0.2',
    model: contrib('FusedGemm', [6], ['x', rnd([6, 4])], { activation: attr.string('LeakyRelu'), activation_alpha: attr.float(0.2) }),
    step: 1e-3,
  });
  add({ name: 'FusedGemm activation Tanh', model: contrib('FusedGemm', [6], ['x', rnd([6, 4], 0.5)], { activation: attr.string('Tanh') }) });
  // The activations ONNX Runtime's FusedGemm kernel builds from its activation_* attributes.
  for (const [activation, params] of [
    ['Elu', { activation_alpha: attr.float(0.7) }],
    ['Celu', { activation_alpha: attr.float(1.5) }],
    ['Selu', { activation_alpha: attr.float(1.6), activation_gamma: attr.float(1.1) }],
    ['Softplus', {}],
    ['Softsign', {}],
    ['ThresholdedRelu', { activation_alpha: attr.float(0.3) }],
    ['HardSigmoid', { activation_alpha: attr.float(0.3), activation_beta: attr.float(0.4) }],
  ] as const) {
    add({
      name: `FusedGemm activation ${activation}`,
      model: contrib('FusedGemm', [6], ['x', rnd([6, 4], 0.5), rnd([4])], { activation: attr.string(activation), ...params }),
      step: 1e-3,
    });
  }
  add({ name: 'com.microsoft Gelu', model: contrib('Gelu', x), sample: scaled(2) });
  add({ name: 'com.microsoft FastGelu with bias', model: contrib('FastGelu', [4, 5], ['x', rnd([5])]), sample: scaled(2) });
  add({ name: 'com.microsoft FastGelu without bias', model: contrib('FastGelu', [4, 5]), sample: scaled(2) });
  add({ name: 'com.microsoft BiasGelu', model: contrib('BiasGelu', [4, 5], ['x', rnd([5])]), sample: scaled(2) });
  add({ name: 'com.microsoft QuickGelu alpha 1.702', model: contrib('QuickGelu', x, ['x'], { alpha: attr.float(1.702) }), sample: scaled(2) });
  add({
    name: 'com.microsoft SkipLayerNormalization (skip, gamma, beta, bias)',
    model: contrib('SkipLayerNormalization', [4, 6], ['x', rnd([4, 6]), rnd([6], 0.5, 1), rnd([6]), rnd([6])], { epsilon: attr.float(1e-5) }),
  });
  add({
    name: 'com.microsoft SkipLayerNormalization with x as input and skip, sum output used',
    covers: 'SkipLayerNormalization',
    model: graphModel({
      x: [4, 6],
      opset: 13,
      initializers: { gamma: rnd([6], 0.5, 1), beta: rnd([6]), c: rnd([4, 6]) },
      nodes: [
        { opType: 'Tanh', inputs: ['x'], outputs: ['t'], attrs: {} },
        { opType: 'SkipLayerNormalization', domain: MICROSOFT.domain, inputs: ['x', 't', 'gamma', 'beta'], outputs: ['ln', '', '', 'sum'], attrs: {} },
        { opType: 'Mul', inputs: ['sum', 'c'], outputs: ['s2'], attrs: {} },
        { opType: 'Add', inputs: ['ln', 's2'], outputs: ['y'], attrs: {} },
      ],
    }),
  });
}

// ---------------------------------------------------------------- QDQ: straight-through
{
  // x → Q/DQ (scale 0.05, zero point 0: every |x| < 6.4 representable) → Conv with DQ'd weights.
  // (Linear after the QDQ pair, so that the reference's derivative is the same function of x.)
  // The gradient is the unquantized graph's (Conv on x with the dequantized weights): the
  // finite differences are taken there, since the quantized graph is piecewise constant.
  const wq = Int8Array.from(seededNormal(901, 4 * 3 * 3 * 3), (v) => Math.max(-127, Math.min(127, Math.round(v * 40))));
  const wScale = 0.01;
  const int8 = (values: readonly number[], dims: readonly number[]): ConstInput => ({ int8: values, dims });
  const conv = { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) };
  const quantized = (opset: number) =>
    graphModel({
      x: [3, 5, 5],
      opset,
      initializers: { s: floats([0.05], []), z: int8([0], []), wq: int8([...wq], [4, 3, 3, 3]), ws: floats([wScale], []), wz: int8([0], []) },
      nodes: [
        { opType: 'QuantizeLinear', inputs: ['x', 's', 'z'], outputs: ['xq'], attrs: {} },
        { opType: 'DequantizeLinear', inputs: ['xq', 's', 'z'], outputs: ['xd'], attrs: {} },
        { opType: 'DequantizeLinear', inputs: ['wq', 'ws', 'wz'], outputs: ['w'], attrs: {} },
        { opType: 'Conv', inputs: ['xd', 'w'], outputs: ['y'], attrs: conv },
      ],
    });
  const reference = graphModel({
    x: [3, 5, 5],
    opset: 13,
    initializers: {
      w: floats(
        Array.from(wq, (v) => v * wScale),
        [4, 3, 3, 3],
      ),
    },
    nodes: [{ opType: 'Conv', inputs: ['x', 'w'], outputs: ['y'], attrs: conv }],
  });
  add({ name: 'QuantizeLinear → DequantizeLinear (straight-through), opset 13', covers: 'QuantizeLinear', model: quantized(13), reference });
  add({ name: 'DequantizeLinear after QuantizeLinear (straight-through), opset 19', covers: 'DequantizeLinear', model: quantized(19), reference });
}
