// The adjoint cases: linear (and affine) rules on tiny graphs, over their attribute variants.
// Each case declares the op it covers (`op`): the registry coverage test reads it.
import { attr, type Attributes } from '../../src/onnx/attributes.js';
import { type Model } from '../../src/onnx/ir.js';
import { type ConstInput, INT64_MAX, MICROSOFT, type OpInput, graphModel, seededNormal, singleOp, size } from '../helpers/tiny-graph.js';

let constSeed = 100;
/** A random float constant (fresh seed each call, fixed across runs). */
const rnd = (dims: readonly number[], scale = 1): ConstInput => ({ float: seededNormal(constSeed++, size(dims)).map((v) => v * scale), dims });
const ints = (values: readonly (number | bigint)[], dims?: readonly number[]): ConstInput => ({ int64: values, ...(dims ? { dims } : {}) });
const floats = (values: readonly number[], dims: readonly number[]): ConstInput => ({ float: values, dims });

export interface Case {
  name: string;
  /** The op type (and domain, '' for ONNX) whose rule the case checks. */
  op: string;
  domain: string;
  model: Model;
  todo?: string;
  /** Rewrites forward nodes the CPU runtime has no kernel for (see GradHarness.create). */
  runAs?: (m: Model) => Model;
}

export const adjointCases: Case[] = [];
/**
 * A case of a one-node model covers that node's op; a model of several nodes names the op it
 * is about (`covers`), which must be one of its nodes.
 */
function add(name: string, model: Model, options: { covers?: string; todo?: string; runAs?: (m: Model) => Model } = {}): void {
  const nodes = model.graph.nodes;
  const node = options.covers ? nodes.find((n) => n.opType === options.covers) : nodes.length === 1 ? nodes[0] : undefined;
  if (!node) throw new Error(`adjoint case ${name}: say which of its ${nodes.length} nodes it covers`);
  adjointCases.push({
    name,
    op: node.opType,
    domain: node.domain,
    model,
    ...(options.todo ? { todo: options.todo } : {}),
    ...(options.runAs ? { runAs: options.runAs } : {}),
  });
}
export function op(opType: string, opset: number, x: readonly number[], inputs: readonly OpInput[] = ['x'], attrs: Attributes = {}, outputs = 1): Model {
  return singleOp(opType, { x, opset, inputs, attrs, outputs });
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
  conv('7x7 s2 p3 (a ResNet stem) on 12x13', [3, 12, 13], [4, 3, 7, 7], { strides: attr.ints([2, 2]), pads: attr.ints([3, 3, 3, 3]) }, true);
  conv('3x1 strides (2, 1) pads [1,0,1,0] on 9x8', [3, 9, 8], [4, 3, 3, 1], { strides: attr.ints([2, 1]), pads: attr.ints([1, 0, 1, 0]) });
  conv('2x2 s3 p1 (phases past the kernel) on 10x11', [3, 10, 11], [4, 3, 2, 2], { strides: attr.ints([3, 3]), pads: attr.ints([1, 1, 0, 0]) });
  conv('4x4 s2 p1 (every phase two taps) on 8x9', [3, 8, 9], [4, 3, 4, 4], { strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) });
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
  // PyTorch's LocalResponseNorm export: a 3-D AveragePool over (channels, 1, 1) windows.
  pool('3-D 3x1x1 on 6x4x5 (LRN-style window over channels)', [1, 6, 4, 5], { kernel_shape: attr.ints([3, 1, 1]) });
  pool('3-D 2x2x2 s2 p1 count_include_pad 0', [2, 5, 4, 6], {
    kernel_shape: attr.ints([2, 2, 2]),
    strides: attr.ints([2, 2, 2]),
    pads: attr.ints([1, 0, 1, 1, 0, 1]),
  });
  pool('1-D k3 s2 on 9', [3, 9], { kernel_shape: attr.ints([3]), strides: attr.ints([2]) });
}

// ---------------------------------------------------------------- Gemm, MatMul, Einsum
{
  const gemm = (name: string, model: Model) => add(`Gemm ${name}`, model, { covers: 'Gemm' });
  gemm('x·B', op('Gemm', 13, [6], ['x', rnd([6, 4])]));
  gemm(
    'x·Bᵀ + C[M], alpha 0.7 beta 0.3',
    op('Gemm', 13, [6], ['x', rnd([4, 6]), rnd([4])], { transB: attr.int(1), alpha: attr.float(0.7), beta: attr.float(0.3) }),
  );
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
  add('Identity', op('Identity', 13, [3, 4]));
  add('Dropout (inference, opset 13, mask output)', op('Dropout', 13, [3, 4], ['x'], {}, 2));
  add('Dropout (opset 11, ratio attribute)', op('Dropout', 11, [3, 4], ['x'], { ratio: attr.float(0.3) }));
}

// ---------------------------------------------------------------- Concat, Split, Slice, Pad, Gather, Expand
{
  // A constant can only be concatenated along a non-batch axis once expanded to the batch:
  // c' = Expand(c, [N, 3, 4, 4]) with N from Shape(x) (not differentiable, so c' is inactive).
  add(
    'Concat x with a constant (expanded to the batch), axis 1',
    graphModel({
      x: [2, 4, 4],
      opset: 13,
      initializers: { c: rnd([1, 3, 4, 4]), zero: ints([0]), one: ints([1]), rest: ints([3, 4, 4]) },
      nodes: [
        { opType: 'Shape', inputs: ['x'], outputs: ['sx'], attrs: {} },
        { opType: 'Slice', inputs: ['sx', 'zero', 'one'], outputs: ['n'], attrs: {} },
        { opType: 'Concat', inputs: ['n', 'rest'], outputs: ['cshape'], attrs: { axis: attr.int(0) } },
        { opType: 'Expand', inputs: ['c', 'cshape'], outputs: ['cb'], attrs: {} },
        { opType: 'Concat', inputs: ['cb', 'x'], outputs: ['y'], attrs: { axis: attr.int(1) } },
      ],
    }),
    { covers: 'Concat' },
  );
  add('Concat x with itself, axis -1', op('Concat', 13, [2, 3], ['x', 'x'], { axis: attr.int(-1) }));
  add('Concat x, x, x along axis 1 (opset 11)', op('Concat', 11, [2, 3], ['x', 'x', 'x'], { axis: attr.int(1) }));

  // Slices that tile an axis (a fused QKV projection cut in three): their cotangents are
  // concatenated, not padded and summed; slices with a gap or an overlap keep the padded sum.
  const slices = (name: string, ranges: [number, number][]) =>
    add(
      `Slice ×${ranges.length} ${name}`,
      graphModel({
        x: [6, 4],
        opset: 13,
        initializers: Object.fromEntries([
          ['axis', ints([1])],
          ...ranges.flatMap(([start, end], i) => [
            [`s${i}`, ints([start])],
            [`e${i}`, ints([end])],
            [`c${i}`, rnd([1, end - start, 4])],
          ]),
        ]),
        nodes: [
          ...ranges.flatMap((_, i) => [
            { opType: 'Slice', inputs: ['x', `s${i}`, `e${i}`, 'axis'], outputs: [`p${i}`], attrs: {} },
            { opType: 'Mul', inputs: [`p${i}`, `c${i}`], outputs: [`q${i}`], attrs: {} },
          ]),
          { opType: 'Concat', inputs: ranges.map((_, i) => `q${i}`), outputs: ['y'], attrs: { axis: attr.int(1) } },
        ],
      }),
      { covers: 'Slice' },
    );
  slices('tiling axis 1 out of order (concatenated)', [
    [2, 5],
    [0, 2],
    [5, 6],
  ]);
  slices('with a gap (padded and summed)', [
    [0, 2],
    [3, 6],
  ]);
  slices('overlapping (padded and summed)', [
    [0, 4],
    [2, 6],
  ]);

  // Split: outputs recombined in another order, so each part's cotangent must go to its place.
  const split = (name: string, opset: number, splitInput: ConstInput | undefined, attrs: Attributes, parts: number, order: number[]) => {
    const outs = Array.from({ length: parts }, (_, i) => `p${i}`);
    add(
      `Split ${name}`,
      graphModel({
        x: [6, 4],
        opset,
        initializers: splitInput ? { s: splitInput } : {},
        nodes: [
          { opType: 'Split', inputs: splitInput ? ['x', 's'] : ['x'], outputs: outs, attrs },
          order.length === 1
            ? { opType: 'Identity', inputs: [outs[order[0] as number] as string], outputs: ['y'], attrs: {} }
            : { opType: 'Concat', inputs: order.map((i) => outs[i] as string), outputs: ['y'], attrs: { axis: attr.int(1) } },
        ],
      }),
      { covers: 'Split' },
    );
  };
  split('opset 11, split attribute [1,2,3], axis 1, recombined 2,0,1', 11, undefined, { axis: attr.int(1), split: attr.ints([1, 2, 3]) }, 3, [2, 0, 1]);
  split('opset 13, split input [3,1,2], axis 1, recombined 1,2,0', 13, ints([3, 1, 2]), { axis: attr.int(1) }, 3, [1, 2, 0]);
  split('opset 13, equal halves on axis -1, recombined 1,0', 13, undefined, { axis: attr.int(-1) }, 2, [1, 0]);
  split('opset 13, only the middle output used', 13, ints([2, 2, 2]), { axis: attr.int(1) }, 3, [1]);
  split('opset 11, only the first output used', 11, undefined, { axis: attr.int(1), split: attr.ints([4, 2]) }, 2, [0]);

  const slice = (name: string, x: number[], starts: number[], ends: (number | bigint)[], axes?: number[], steps?: number[]) =>
    add(`Slice ${name}`, op('Slice', 13, x, ['x', ints(starts), ints(ends), ...(axes ? [ints(axes)] : []), ...(steps ? [ints(steps)] : [])]));
  slice('step 1 on axis 2', [3, 9, 8], [2], [7], [2]);
  slice('step 2, tail inside the input', [3, 9, 8], [1], [8], [2], [2]);
  slice('step 2, interleaved tail past the input (crop)', [3, 9, 8], [0], [9], [2], [2]);
  slice('step 3 from 1 to end', [3, 9, 8], [1], [1000], [3], [3]);
  slice('negative start -3 to end', [3, 9, 8], [-3], [1000], [2]);
  slice('negative start and end [-5, -1]', [3, 9, 8], [-5], [-1], [-1]);
  slice('multiple axes with steps [1,2] and a negative start', [3, 9, 8], [1, -6], [3, 1000], [1, 3], [1, 2]);
  slice('axes omitted (all leading axes from 0), batch kept whole with end INT64_MAX', [3, 9, 8], [0, 1, 2], [INT64_MAX, 3, 8]);
  slice('INT64_MAX end on a static axis, step 2', [3, 9, 8], [1], [INT64_MAX], [3], [2]);
  slice('end clamped past the size', [3, 9, 8], [4], [50], [2]);

  const pad = (name: string, opset: number, x: number[], inputs: OpInput[]) =>
    add(`Pad ${name}`, op('Pad', opset, x, ['x', ...inputs], { mode: attr.string('constant') }));
  pad('H [1,2], W [0,3]', 13, [2, 5, 6], [ints([0, 0, 1, 0, 0, 0, 2, 3])]);
  pad('with a negative pad (crop W begin) and a constant value', 13, [2, 5, 6], [ints([0, 0, 1, -1, 0, 0, 2, 1]), floats([0.5], [])]);
  pad('negative pads on both ends of H', 11, [2, 5, 6], [ints([0, 0, -1, 2, 0, 0, -2, 0])]);
  pad('opset 18 with axes input [2,-1]', 18, [2, 5, 6], [ints([1, -2, 2, 1]), '', ints([2, -1])]);

  const gather = (name: string, x: number[], indices: ConstInput, axis: number) =>
    add(`Gather ${name}`, op('Gather', 13, x, ['x', indices], { axis: attr.int(axis) }));
  gather('scalar index, axis 1', [5, 4], { int64: [2], dims: [] }, 1);
  gather('1-D indices with repeats, axis 1', [5, 4], ints([0, 3, 3, 1, 3]), 1);
  gather('1-D negative indices, axis 2', [3, 5, 4], ints([-1, 0, -1]), 2);
  gather('2-D indices, axis 1', [5, 4], ints([0, 1, 4, 4, 2, 0], [2, 3]), 1);
  gather('2-D indices, axis 1 of a 4-D tensor', [5, 3, 2], ints([4, 0, 4, 1], [2, 2]), 1);
  gather('scalar index, last axis', [3, 4, 5], { int64: [3], dims: [] }, -1);

  add('Expand [N,3,1,4] to [1,3,5,4]', op('Expand', 13, [3, 1, 4], ['x', ints([1, 3, 5, 4])]));
  add('Expand [N,4] to [3,1,4] (new leading axis)', op('Expand', 13, [4], ['x', ints([3, 1, 4])]));
  add('Expand [N,1,1] to [1,2,3] (several axes)', op('Expand', 13, [1, 1], ['x', ints([1, 2, 3])]));
}

// ---------------------------------------------------------------- reductions
{
  const x = [3, 4, 5];
  add('ReduceSum opset 11, axes attribute [1], keepdims 1', op('ReduceSum', 11, x, ['x'], { axes: attr.ints([1]), keepdims: attr.int(1) }));
  add('ReduceSum opset 11, axes attribute [1,-1], keepdims 0', op('ReduceSum', 11, x, ['x'], { axes: attr.ints([1, -1]), keepdims: attr.int(0) }));
  add('ReduceSum opset 13, axes input [2], keepdims 1', op('ReduceSum', 13, x, ['x', ints([2])], { keepdims: attr.int(1) }));
  add('ReduceSum opset 13, axes input [-1,1], keepdims 0', op('ReduceSum', 13, x, ['x', ints([-1, 1])], { keepdims: attr.int(0) }));
  add('ReduceSum opset 13, no axes (all, batch included), keepdims 0', op('ReduceSum', 13, x, ['x'], { keepdims: attr.int(0) }));
  add('ReduceSum opset 13, empty axes with noop_with_empty_axes 1', op('ReduceSum', 13, x, ['x', ints([])], { noop_with_empty_axes: attr.int(1) }));
  add('ReduceMean opset 11, axes [2,3], keepdims 1', op('ReduceMean', 11, [3, 4, 5], ['x'], { axes: attr.ints([2, 3]), keepdims: attr.int(1) }));
  add('ReduceMean opset 13, axes [1], keepdims 0', op('ReduceMean', 13, x, ['x'], { axes: attr.ints([1]), keepdims: attr.int(0) }));
  add('ReduceMean opset 13, axes [-2,-1], keepdims 1', op('ReduceMean', 13, x, ['x'], { axes: attr.ints([-2, -1]), keepdims: attr.int(1) }));
  add('ReduceMean opset 18, axes input [2], keepdims 0', op('ReduceMean', 18, x, ['x', ints([2])], { keepdims: attr.int(0) }));
  add('ReduceMean opset 18, axes input [1,2], keepdims 1', op('ReduceMean', 18, x, ['x', ints([1, 2])], { keepdims: attr.int(1) }));
}

// ---------------------------------------------------------------- affine per-element ops
{
  const C = 3;
  add(
    'BatchNormalization (inference, opset 15)',
    op('BatchNormalization', 15, [C, 4, 4], ['x', rnd([C]), rnd([C]), rnd([C]), floats([0.5, 1.7, 0.2], [C])], { epsilon: attr.float(1e-3) }),
  );
  add(
    'BatchNormalization (inference, opset 11, 3-D input)',
    op('BatchNormalization', 11, [C, 6], ['x', rnd([C]), rnd([C]), rnd([C]), floats([0.9, 2.5, 0.1], [C])]),
  );
  const cond = (dims: number[], seed: number): ConstInput => ({ bool: Array.from(seededNormal(seed, size(dims)), (v) => v > 0), dims });
  add('Where(cond, x, c) with a constant condition', op('Where', 13, [3, 4, 4], [cond([3, 4, 4], 11), 'x', rnd([3, 4, 4])]));
  add('Where(cond[4], c, x) with broadcasting', op('Where', 13, [3, 4, 4], [cond([4], 12), floats([2], []), 'x']));
  add('Where(cond, x, x)', op('Where', 13, [3, 4, 4], [cond([3, 4, 4], 13), 'x', 'x']));
  add('Where(cond[3,4,4], x[N,1,4,4], c) (x broadcast by the op)', op('Where', 13, [1, 4, 4], [cond([3, 4, 4], 14), 'x', floats([0], [])]));
  add('Add x[N,3,4,4] + c[3,1,1]', op('Add', 13, [3, 4, 4], ['x', rnd([3, 1, 1])]));
  add('Add c[4] + x[N,3,4,4]', op('Add', 13, [3, 4, 4], [rnd([4]), 'x']));
  add('Add x[N,1,4] + c[3,4] (x broadcast)', op('Add', 13, [1, 4], ['x', rnd([3, 4])]));
  add('Add x + x', op('Add', 13, [3, 4], ['x', 'x']));
  add('Sub x[N,3,4,4] − c[3,1,1]', op('Sub', 13, [3, 4, 4], ['x', rnd([3, 1, 1])]));
  add('Sub c[1,3,1,1] − x[N,3,4,4]', op('Sub', 13, [3, 4, 4], [rnd([1, 3, 1, 1]), 'x']));
  add('Sub c[3,4] − x[N,1,4] (x broadcast)', op('Sub', 13, [1, 4], [rnd([3, 4]), 'x']));
  add('Mul x[N,3,4,4] · c[3,1,1]', op('Mul', 13, [3, 4, 4], ['x', rnd([3, 1, 1])]));
  add('Mul c[4] · x[N,3,4,4]', op('Mul', 13, [3, 4, 4], [rnd([4]), 'x']));
  add('Mul x[N,1,4] · c[3,4] (x broadcast)', op('Mul', 13, [1, 4], ['x', rnd([3, 4])]));
  add('Mul x · scalar', op('Mul', 13, [3, 4], ['x', floats([-1.5], [])]));
  add('Div x[N,3,4,4] / c[3,1,1]', op('Div', 13, [3, 4, 4], ['x', floats([0.5, -2, 3], [3, 1, 1])]));
  add('Sum(x, c[4], x)', op('Sum', 13, [3, 4], ['x', rnd([4]), 'x']));
  add('Neg', op('Neg', 13, [3, 4]));
  add('Cast float→float', op('Cast', 13, [3, 4], ['x'], { to: attr.int(1) }));
}

// ---------------------------------------------------------------- Mean, Tile, DepthToSpace, SpaceToDepth, GatherElements
{
  add('Mean(x, c[4], x) variadic with broadcasting', op('Mean', 13, [3, 4], ['x', rnd([4]), 'x']));
  add('Mean(x) of one operand', op('Mean', 13, [3, 4]));
  add('Tile repeats [1,2,1,3]', op('Tile', 13, [3, 4, 5], ['x', ints([1, 2, 1, 3])]));
  add('Tile repeats [1,1,2] on 3-D', op('Tile', 13, [2, 3], ['x', ints([1, 1, 2])]));
  add('Tile repeats the batch [2,1,1]', op('Tile', 13, [2, 3], ['x', ints([2, 1, 1])]));
  add('DepthToSpace DCR blocksize 2', op('DepthToSpace', 13, [8, 3, 2], ['x'], { blocksize: attr.int(2) }));
  add('DepthToSpace CRD blocksize 2', op('DepthToSpace', 13, [8, 3, 2], ['x'], { blocksize: attr.int(2), mode: attr.string('CRD') }));
  add('DepthToSpace DCR blocksize 3, opset 11', op('DepthToSpace', 11, [9, 2, 2], ['x'], { blocksize: attr.int(3) }));
  add('SpaceToDepth blocksize 2', op('SpaceToDepth', 13, [3, 4, 6], ['x'], { blocksize: attr.int(2) }));
  const index = (dims: number[], depth: number, seed: number): ConstInput => ({
    int64: Array.from(seededNormal(seed, size(dims)), (v) => Math.floor(((v + 3) / 6) * depth) % depth).map((k) => Math.max(0, k)),
    dims,
  });
  // Indices of the data's batch size: a constant expanded to Shape(x) (not differentiable).
  const gatherElements = (name: string, opset: number, x: number[], indices: ConstInput, axis: number) =>
    add(
      `GatherElements ${name}`,
      graphModel({
        x,
        opset,
        initializers: { c: indices },
        nodes: [
          { opType: 'Shape', inputs: ['x'], outputs: ['sx'], attrs: {} },
          { opType: 'Expand', inputs: ['c', 'sx'], outputs: ['idx'], attrs: {} },
          { opType: 'GatherElements', inputs: ['x', 'idx'], outputs: ['y'], attrs: { axis: attr.int(axis) } },
        ],
      }),
      { covers: 'GatherElements' },
    );
  gatherElements('axis 2 (repeated indices), opset 13', 13, [3, 4], index([1, 3, 4], 4, 61), 2);
  gatherElements('axis 1 (repeated indices), opset 16', 16, [3, 4], index([1, 3, 4], 3, 63), 1);
  gatherElements('axis -1 with negative indices, opset 11', 11, [3, 4], ints([-1, 0, 3, -2, 1, 1, 0, -4, 2, 2, 3, -1], [1, 3, 4]), -1);
  add(
    'GatherElements axis 1, fewer indices than data (batch 1), opset 18',
    op('GatherElements', 18, [5, 4], ['x', index([1, 3, 4], 5, 62)], { axis: attr.int(1) }),
  );
}

// ---------------------------------------------------------------- Resize / Upsample
{
  // Sizes cover every axis, the batch included: computed from Shape(x) as exporters do.
  const resize = (name: string, x: number[], attrs: Attributes, scales?: number[], sizes?: number[], opset = 13) => {
    const roi = opset < 13 ? floats([], [0]) : '';
    if (!sizes || attrs['axes']) {
      add(`Resize ${name}`, op('Resize', opset, x, ['x', roi, scales ? floats(scales, [scales.length]) : '', ...(sizes ? [ints(sizes)] : [])], attrs));
      return;
    }
    add(
      `Resize ${name}`,
      graphModel({
        x,
        opset,
        initializers: {
          zero: ints([0]),
          two: ints([2]),
          spatial: ints(sizes.slice(2)),
          ...(opset < 13 ? { roi: floats([], [0]), scales: floats([], [0]) } : {}),
        },
        nodes: [
          { opType: 'Shape', inputs: ['x'], outputs: ['sx'], attrs: {} },
          { opType: 'Slice', inputs: ['sx', 'zero', 'two'], outputs: ['nc'], attrs: {} },
          { opType: 'Concat', inputs: ['nc', 'spatial'], outputs: ['sizes'], attrs: { axis: attr.int(0) } },
          { opType: 'Resize', inputs: opset < 13 ? ['x', 'roi', 'scales', 'sizes'] : ['x', '', '', 'sizes'], outputs: ['y'], attrs },
        ],
      }),
      { covers: 'Resize' },
    );
  };
  const mode = (m: string, t: string, extra: Attributes = {}) => ({ mode: attr.string(m), coordinate_transformation_mode: attr.string(t), ...extra });
  resize('nearest ×2 asymmetric floor (PyTorch nearest)', [3, 4, 5], mode('nearest', 'asymmetric', { nearest_mode: attr.string('floor') }), [1, 1, 2, 2]);
  resize('nearest ×2 half_pixel round_prefer_floor (defaults)', [3, 4, 5], { mode: attr.string('nearest') }, [1, 1, 2, 2]);
  resize(
    'nearest ×1.5 half_pixel round_prefer_ceil',
    [2, 4, 6],
    mode('nearest', 'half_pixel', { nearest_mode: attr.string('round_prefer_ceil') }),
    [1, 1, 1.5, 1.5],
  );
  resize('nearest downsample ×0.5 asymmetric ceil', [2, 8, 6], mode('nearest', 'asymmetric', { nearest_mode: attr.string('ceil') }), [1, 1, 0.5, 0.5]);
  resize('nearest tf_half_pixel_for_nn ×3', [2, 3, 2], mode('nearest', 'tf_half_pixel_for_nn'), [1, 1, 3, 3]);
  resize('linear ×2 half_pixel (bilinear, align_corners=False)', [3, 4, 5], mode('linear', 'half_pixel'), [1, 1, 2, 2]);
  resize('linear ×2 pytorch_half_pixel', [3, 4, 5], mode('linear', 'pytorch_half_pixel'), [1, 1, 2, 2]);
  resize('linear align_corners to sizes 7×9', [3, 4, 5], mode('linear', 'align_corners'), undefined, [2, 3, 7, 9]);
  resize('linear asymmetric ×3 rows, ×2 cols', [2, 3, 4], mode('linear', 'asymmetric'), [1, 1, 3, 2]);
  resize('linear half_pixel downsample to sizes 3×2', [2, 7, 5], mode('linear', 'half_pixel'), undefined, [2, 2, 3, 2]);
  resize('linear pytorch_half_pixel to sizes 1×4 (one output row)', [2, 5, 3], mode('linear', 'pytorch_half_pixel'), undefined, [2, 2, 1, 4]);
  resize('nearest opset 11 with roi and scales', [2, 3, 4], mode('nearest', 'asymmetric', { nearest_mode: attr.string('floor') }), [1, 1, 2, 2], undefined, 11);
  resize('linear opset 18 sizes with axes [2,3]', [2, 3, 4], mode('linear', 'half_pixel', { axes: attr.ints([2, 3]) }), undefined, [6, 8], 18);
  resize('linear opset 19 scales with axes [3] (columns only)', [2, 3, 4], mode('linear', 'half_pixel', { axes: attr.ints([3]) }), [2.5], undefined, 19);
  add('Resize opset 10 (scales input, asymmetric nearest)', op('Resize', 10, [2, 3, 4], ['x', floats([1, 1, 2, 2], [4])], { mode: attr.string('nearest') }));
  add('Upsample opset 9 nearest ×2', op('Upsample', 9, [2, 3, 4], ['x', floats([1, 1, 2, 2], [4])], { mode: attr.string('nearest') }));
  add('Upsample opset 9 linear ×2', op('Upsample', 9, [2, 3, 4], ['x', floats([1, 1, 2, 2], [4])], { mode: attr.string('linear') }));
}

// ---------------------------------------------------------------- com.microsoft linear ops
{
  const contrib = (opType: string, x: readonly number[], inputs: readonly OpInput[], attrs: Attributes = {}) =>
    singleOp(opType, { x, opset: 13, inputs, attrs, domain: MICROSOFT.domain });
  // BiasAdd has CUDA kernels only: on the CPU its forward runs as the two Adds it stands for.
  const biasAddAsAdds = (m: Model): Model => ({
    ...m,
    graph: {
      ...m.graph,
      nodes: m.graph.nodes.flatMap((n) =>
        n.opType === 'BiasAdd'
          ? [
              { ...n, name: `${n.name}/bias`, opType: 'Add', domain: '', inputs: [n.inputs[0] as string, n.inputs[1] as string], outputs: [`${n.name}/sum`] },
              { ...n, name: `${n.name}/skip`, opType: 'Add', domain: '', inputs: [`${n.name}/sum`, n.inputs[2] as string] },
            ]
          : [n],
      ),
    },
  });
  add('com.microsoft BiasAdd(x, bias[C], skip)', contrib('BiasAdd', [4, 6], ['x', rnd([6]), rnd([1, 4, 6])]), { runAs: biasAddAsAdds });
  add('com.microsoft BiasAdd(x, bias[C], x) (x as the skip too)', contrib('BiasAdd', [4, 6], ['x', rnd([6]), 'x']), { runAs: biasAddAsAdds });
  add('com.microsoft FusedMatMul x[N,3,4]·B[4,5], alpha 0.5', contrib('FusedMatMul', [3, 4], ['x', rnd([4, 5])], { alpha: attr.float(0.5) }));
  add('com.microsoft FusedMatMul transA (x[N,4,3]ᵀ·B[4,5])', contrib('FusedMatMul', [4, 3], ['x', rnd([4, 5])], { transA: attr.int(1) }));
  add(
    'com.microsoft FusedMatMul transB, x on the right (A[2,1,5,4]·x[N,3,4]ᵀ), alpha 1.5',
    contrib('FusedMatMul', [3, 4], [rnd([2, 1, 5, 4]), 'x'], { transB: attr.int(1), alpha: attr.float(1.5) }),
  );
  add(
    'com.microsoft FusedMatMul transA and transB on x (xᵀ·B[5,3]ᵀ)',
    contrib('FusedMatMul', [3, 4], ['x', rnd([5, 3])], { transA: attr.int(1), transB: attr.int(1) }),
  );
  add(
    'com.microsoft FusedConv without activation, bias and Z = x',
    contrib('FusedConv', [4, 6, 6], ['x', rnd([4, 4, 3, 3], 0.3), rnd([4]), 'x'], { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) }),
  );
}
