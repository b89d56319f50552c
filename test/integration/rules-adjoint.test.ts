// Adjoint tests of the linear (and affine) rules: for random x and a random cotangent g,
// ⟨f(x) − f(0), g⟩ = ⟨x, f*(g)⟩, where f*(g) is the compiled graph's input gradient with seed g.
// No reference framework: the forward op is ONNX Runtime's own, the backward is ours.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attr, type Attributes } from '../../src/onnx/attributes.js';
import { type Model } from '../../src/onnx/ir.js';
import {
  type ConstInput,
  GradHarness,
  type OpInput,
  absDot,
  dot,
  graphModel,
  maxAbs,
  seededNormal,
  singleOp,
  size,
} from '../helpers/tiny-graph.js';

let constSeed = 100;
/** A random float constant (fresh seed each call, fixed across runs). */
const rnd = (dims: readonly number[], scale = 1): ConstInput => ({ float: seededNormal(constSeed++, size(dims)).map((v) => v * scale), dims });
const ints = (values: readonly number[], dims?: readonly number[]): ConstInput => ({ int64: values, ...(dims ? { dims } : {}) });
const floats = (values: readonly number[], dims: readonly number[]): ConstInput => ({ float: values, dims });

interface Case {
  name: string;
  model: Model;
  todo?: string;
}

const cases: Case[] = [];
function add(name: string, model: Model, todo?: string): void {
  cases.push({ name, model, ...(todo ? { todo } : {}) });
}
function op(opType: string, opset: number, x: readonly number[], inputs: readonly OpInput[] = ['x'], attrs: Attributes = {}, outputs = 1): Model {
  return singleOp(opType, { x, opset, inputs, attrs, outputs });
}

const tol = 1e-5;

async function checkAdjoint(model: Model, batch = 2, trials = 2): Promise<void> {
  const h = await GradHarness.create(model, { explainSoftmaxInput: false });
  try {
    assert.equal(h.compiled.explained, 'y');
    const sample = (model.graph.inputs[0]?.dims ?? []).slice(1) as number[];
    const dims = [batch, ...sample];
    const zero = await h.forward({ data: new Float32Array(size(dims)), dims });
    for (let t = 0; t < trials; t++) {
      const x = { data: seededNormal(1000 + t, size(dims)), dims };
      const y = await h.forward(x);
      assert.deepEqual(y.dims, zero.dims);
      const fx = Float64Array.from(y.data, (v, i) => v - (zero.data[i] as number));
      const g = { data: seededNormal(2000 + t, y.data.length), dims: y.dims };
      const grad = await h.gradient(x, g);
      assert.deepEqual(grad.dims, dims, 'the gradient has the input shape');
      assert.ok(maxAbs(fx) > 0 && maxAbs(grad.data) > 0, 'degenerate case: f(x) − f(0) or the gradient is all zero');
      const lhs = dot(fx, g.data);
      const rhs = dot(x.data, grad.data);
      const scale = absDot(fx, g.data) + absDot(x.data, grad.data);
      const err = Math.abs(lhs - rhs) / scale;
      assert.ok(err <= tol, `trial ${t}: <f(x), g> = ${lhs}, <x, f*(g)> = ${rhs}, relative difference ${err.toExponential(2)} > ${tol}`);
    }
  } finally {
    await h.release();
  }
}

// ---------------------------------------------------------------- Conv
{
  const conv = (name: string, x: number[], w: number[], a: Attributes, bias = false, opset = 13) =>
    add(`Conv ${name}`, op('Conv', opset, x, ['x', rnd(w, 0.3), ...(bias ? [rnd([w[0] as number])] : [])], a));
  const ks = (k: number) => attr.ints([k, k]);
  conv('3x3 s1 p1 with bias', [4, 9, 9], [6, 4, 3, 3], { kernel_shape: ks(3), pads: attr.ints([1, 1, 1, 1]) }, true);
  conv('1x1 s1 no attrs', [4, 7, 7], [5, 4, 1, 1], {});
  conv('1x1 s2 (rows/cols skipped)', [4, 8, 8], [5, 4, 1, 1], { strides: attr.ints([2, 2]) });
  conv('3x3 s2 p1, 10x10 (output_padding 1)', [3, 10, 10], [4, 3, 3, 3], { strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) });
  conv('3x3 s2 p1, 9x9 (output_padding 0)', [3, 9, 9], [4, 3, 3, 3], { strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) }, true);
  conv('5x5 s3 asymmetric pads [0,1,2,0] on 10x11', [3, 10, 11], [4, 3, 5, 5], { strides: attr.ints([3, 3]), pads: attr.ints([0, 1, 2, 0]) }, true);
  conv('5x5 s3 no pads on 12x13 (tail unused)', [2, 12, 13], [3, 2, 5, 5], { strides: attr.ints([3, 3]) });
  conv('3x3 dilations 2 p2', [3, 9, 9], [4, 3, 3, 3], { dilations: attr.ints([2, 2]), pads: attr.ints([2, 2, 2, 2]) });
  conv('3x3 dilations 2 s2 no pads on 10x11', [3, 10, 11], [4, 3, 3, 3], { dilations: attr.ints([2, 2]), strides: attr.ints([2, 2]) });
  conv('3x3 groups 2', [4, 8, 8], [6, 2, 3, 3], { group: attr.int(2), pads: attr.ints([1, 1, 1, 1]) }, true);
  conv('3x3 depthwise (group = channels)', [4, 8, 8], [4, 1, 3, 3], { group: attr.int(4), pads: attr.ints([1, 1, 1, 1]) });
  conv('3x3 depthwise multiplier 2 s2', [4, 9, 9], [8, 1, 3, 3], { group: attr.int(4), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) });
  conv('3x3 s2 auto_pad SAME_UPPER on 9x10', [3, 9, 10], [4, 3, 3, 3], { auto_pad: attr.string('SAME_UPPER'), strides: attr.ints([2, 2]) });
  conv('3x3 s2 auto_pad SAME_LOWER on 9x10', [3, 9, 10], [4, 3, 3, 3], { auto_pad: attr.string('SAME_LOWER'), strides: attr.ints([2, 2]) });
  conv('4x4 s1 auto_pad SAME_LOWER (odd total pad)', [3, 7, 7], [4, 3, 4, 4], { auto_pad: attr.string('SAME_LOWER') });
  conv('4x4 s1 auto_pad SAME_UPPER (odd total pad)', [3, 7, 7], [4, 3, 4, 4], { auto_pad: attr.string('SAME_UPPER') });
  conv('3x3 s2 auto_pad VALID on 10x11', [3, 10, 11], [4, 3, 3, 3], { auto_pad: attr.string('VALID'), strides: attr.ints([2, 2]) });
  conv('5x5 s2 p2 with bias, opset 11', [3, 11, 11], [4, 3, 5, 5], { strides: attr.ints([2, 2]), pads: attr.ints([2, 2, 2, 2]) }, true, 11);
  conv('1-D k3 s2 p1', [3, 11], [4, 3, 3], { strides: attr.ints([2]), pads: attr.ints([1, 1]) }, true);
}

// ---------------------------------------------------------------- pooling
{
  const pool = (name: string, x: number[], a: Attributes, opset = 13) => add(`AveragePool ${name}`, op('AveragePool', opset, x, ['x'], a));
  const k = (n: number) => attr.ints([n, n]);
  pool('2x2 s2 on 7x7', [3, 7, 7], { kernel_shape: k(2), strides: attr.ints([2, 2]) });
  pool('2x2 s2 on 8x8', [3, 8, 8], { kernel_shape: k(2), strides: attr.ints([2, 2]) });
  pool('3x3 s1 p1 count_include_pad 0', [3, 7, 7], { kernel_shape: k(3), pads: attr.ints([1, 1, 1, 1]), count_include_pad: attr.int(0) });
  pool('3x3 s1 p1 count_include_pad 1', [3, 7, 7], { kernel_shape: k(3), pads: attr.ints([1, 1, 1, 1]), count_include_pad: attr.int(1) });
  pool('3x3 s2 ceil_mode 1 on 8x8', [3, 8, 8], { kernel_shape: k(3), strides: attr.ints([2, 2]), ceil_mode: attr.int(1) });
  pool('3x3 s2 ceil_mode 1 p1 on 8x8', [3, 8, 8], { kernel_shape: k(3), strides: attr.ints([2, 2]), ceil_mode: attr.int(1), pads: attr.ints([1, 1, 1, 1]) });
  pool('3x3 s2 ceil_mode 1 p1 count_include_pad 1 on 8x8', [3, 8, 8], {
    kernel_shape: k(3),
    strides: attr.ints([2, 2]),
    ceil_mode: attr.int(1),
    pads: attr.ints([1, 1, 1, 1]),
    count_include_pad: attr.int(1),
  });
  pool('3x3 s2 asymmetric pads [0,1,1,0] on 8x9', [3, 8, 9], { kernel_shape: k(3), strides: attr.ints([2, 2]), pads: attr.ints([0, 1, 1, 0]) });
  pool('3x3 s2 auto_pad SAME_UPPER on 7x8', [3, 7, 8], { kernel_shape: k(3), strides: attr.ints([2, 2]), auto_pad: attr.string('SAME_UPPER') });
  pool('2x3 kernel s(1,2) on 6x7', [2, 6, 7], { kernel_shape: attr.ints([2, 3]), strides: attr.ints([1, 2]) });
  pool('3x3 s1 dilations 2, opset 19', [2, 8, 8], { kernel_shape: k(3), dilations: attr.ints([2, 2]) }, 19);
  add('GlobalAveragePool on 5x6', op('GlobalAveragePool', 13, [4, 5, 6]));
}

// ---------------------------------------------------------------- Gemm, MatMul, Einsum
{
  const gemm = (name: string, model: Model) => add(`Gemm ${name}`, model);
  gemm('x·B', op('Gemm', 13, [6], ['x', rnd([6, 4])]));
  gemm('x·Bᵀ + C[M], alpha 0.7 beta 0.3', op('Gemm', 13, [6], ['x', rnd([4, 6]), rnd([4])], { transB: attr.int(1), alpha: attr.float(0.7), beta: attr.float(0.3) }));
  gemm('x·B + C[1,M] (opset 11)', op('Gemm', 11, [6], ['x', rnd([6, 4]), rnd([1, 4])], { beta: attr.float(2) }));
  gemm('A·xᵀ (x as B with transB = 1), alpha 1.5', op('Gemm', 13, [6], [rnd([3, 6]), 'x'], { transB: attr.int(1), alpha: attr.float(1.5) }));
  gemm('Aᵀ·xᵀ (transA = 1 on a constant, x as B with transB = 1)', op('Gemm', 13, [6], [rnd([6, 3]), 'x'], { transA: attr.int(1), transB: attr.int(1) }));
  gemm(
    'transA = 1 on the active operand (x transposed first), transB = 1, C scalar',
    graphModel({
      x: [6],
      opset: 13,
      initializers: { B: rnd([4, 6]), C: floats([0.25], []) },
      nodes: [
        { opType: 'Transpose', inputs: ['x'], outputs: ['xt'], attrs: { perm: attr.ints([1, 0]) } },
        { opType: 'Gemm', inputs: ['xt', 'B', 'C'], outputs: ['y'], attrs: { transA: attr.int(1), transB: attr.int(1), alpha: attr.float(-0.5) } },
      ],
    }),
  );
  add('MatMul 2-D x[N,4]·[4,5]', op('MatMul', 13, [4], ['x', rnd([4, 5])]));
  add('MatMul batched x[N,2,3,4]·[4,5]', op('MatMul', 13, [2, 3, 4], ['x', rnd([4, 5])]));
  add('MatMul broadcast x[N,1,3,4]·[2,4,5]', op('MatMul', 13, [1, 3, 4], ['x', rnd([2, 4, 5])]));
  add('MatMul constant on the left [5,3]·x[N,3,4]', op('MatMul', 13, [3, 4], [rnd([5, 3]), 'x']));
  add('MatMul constant on the left, broadcast [2,1,5,3]·x[N,3,4]', op('MatMul', 13, [3, 4], [rnd([2, 1, 5, 3]), 'x']));
  add('Einsum bij,jk->bik', op('Einsum', 13, [3, 4], ['x', rnd([4, 5])], { equation: attr.string('bij,jk->bik') }));
  add('Einsum bij,jk->bk (i summed away)', op('Einsum', 13, [3, 4], ['x', rnd([4, 5])], { equation: attr.string('bij,jk->bk') }));
  add('Einsum jk,bij->bki (x second)', op('Einsum', 13, [3, 4], [rnd([4, 5]), 'x'], { equation: attr.string('jk,bij->bki') }));
}

// ---------------------------------------------------------------- shape ops
{
  add('Transpose perm [0,2,3,1]', op('Transpose', 13, [3, 4, 5], ['x'], { perm: attr.ints([0, 2, 3, 1]) }));
  add('Transpose default perm (reversal, batch last)', op('Transpose', 13, [3, 4, 5]));
  add('Reshape [0,-1]', op('Reshape', 13, [3, 4, 4], ['x', ints([0, -1])]));
  add('Reshape [0,4,12]', op('Reshape', 13, [3, 4, 4], ['x', ints([0, 4, 12])]));
  add('Reshape [-1,6] (batch merged)', op('Reshape', 13, [3, 4, 4], ['x', ints([-1, 6])]));
  add('Flatten axis 1', op('Flatten', 13, [3, 4, 4], ['x'], { axis: attr.int(1) }));
  add('Flatten axis 2', op('Flatten', 11, [3, 4, 4], ['x'], { axis: attr.int(2) }));
  add('Squeeze opset 11 (axes attribute)', op('Squeeze', 11, [3, 1, 4, 1], ['x'], { axes: attr.ints([2, -1]) }));
  add('Squeeze opset 13 (axes input)', op('Squeeze', 13, [3, 1, 4, 1], ['x', ints([2, -1])]));
  add('Unsqueeze opset 11 (axes attribute)', op('Unsqueeze', 11, [3, 4], ['x'], { axes: attr.ints([1, -1]) }));
  add('Unsqueeze opset 13 (axes input)', op('Unsqueeze', 13, [3, 4], ['x', ints([1, -1])]));
  add('Concat x with a constant, axis 1', op('Concat', 13, [2, 4, 4], ['x', rnd([1, 3, 4, 4]).dims ? { float: new Float32Array(0), dims: [0] } : 'x'], { axis: attr.int(1) }), 'placeholder');
  add('Identity', op('Identity', 13, [3, 4]));
  add('Dropout (inference, opset 13, mask output)', op('Dropout', 13, [3, 4], ['x'], {}, 2));
  add('Dropout (opset 11, ratio attribute)', op('Dropout', 11, [3, 4], ['x'], { ratio: attr.float(0.3) }));
}
