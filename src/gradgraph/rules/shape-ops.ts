// Ops that move elements without changing them: their backward moves the cotangent back.
import { attr, getInt, getInts, getString } from '../../onnx/attributes.js';
import { type Dim } from '../../onnx/shapes.js';
import { type GradRule, type RuleContext } from '../rule.js';
import { floatMask, normAxis, unbroadcast } from './common.js';

/** g reshaped to the runtime shape of input 0. */
const reshapeBack: GradRule = {
  differentiable: [0],
  backward(ctx) {
    ctx.give(0, ctx.b.reshapeLike(ctx.cotangent(0), ctx.input(0)));
  },
};

const INT64_MAX = 2 ** 63;

/** Static size of one axis, failing clearly when it is the symbolic batch. */
function staticDim(ctx: RuleContext, dim: Dim | undefined, what: string): number {
  if (typeof dim !== 'number') ctx.fail(`${what} must have a static size`);
  return dim;
}

/** ONNX Slice's clamping of (start, end) for a positive step. */
function clampRange(start: number, end: number, size: number): [number, number] {
  const norm = (v: number) => (v < 0 ? Math.max(0, v + size) : Math.min(v, size));
  return [norm(start), Math.max(norm(start), norm(end >= INT64_MAX - 1 ? size : end))];
}

export const shapeRules: Record<string, GradRule> = {
  Reshape: reshapeBack,
  Flatten: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,

  Transpose: {
    differentiable: [0],
    backward(ctx) {
      const rank = ctx.shape(ctx.input(0)).length;
      const perm = getInts(ctx.attrs, 'perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
      const inverse = new Array<number>(rank);
      perm.forEach((p, i) => (inverse[p] = i));
      ctx.give(0, ctx.b.transpose(ctx.cotangent(0), inverse));
    },
  },

  Expand: {
    differentiable: [0],
    backward(ctx) {
      ctx.give(0, unbroadcast(ctx, ctx.cotangent(0), ctx.shape(ctx.input(0)), ctx.shape(ctx.output(0))));
    },
  },

  Concat: {
    backward(ctx) {
      const g = ctx.cotangent(0);
      const rank = ctx.shape(ctx.output(0)).length;
      const axis = normAxis(getInt(ctx.attrs, 'axis', 0), rank);
      let offset = 0;
      ctx.node.inputs.forEach((input, i) => {
        const size = staticDim(ctx, ctx.shape(input)[axis], `Concat input ${input} along axis ${axis}`);
        if (ctx.needs(i)) ctx.give(i, ctx.b.slice(g, [offset], [offset + size], [axis]));
        offset += size;
      });
    },
  },

  Split: {
    differentiable: [0],
    backward(ctx) {
      const rank = ctx.shape(ctx.input(0)).length;
      const axis = normAxis(getInt(ctx.attrs, 'axis', 0), rank);
      const parts = ctx.node.outputs.map((_, i) => ctx.gradOutOrZeros(i));
      ctx.give(0, ctx.b.op('Concat', parts, { axis: attr.int(axis) }));
    },
  },

  // Positive steps only. Step 1 pads the cotangent back; step s first interleaves s−1 zeros
  // after each element (unsqueeze, pad, merge), then pads.
  Slice: {
    differentiable: [0],
    backward(ctx) {
      const b = ctx.b;
      const x = ctx.input(0);
      const inShape = ctx.shape(x);
      const rank = inShape.length;
      const starts = ctx.requireConstant(ctx.input(1), 'starts');
      const ends = ctx.requireConstant(ctx.input(2), 'ends');
      const axes = ctx.input(3) ? ctx.requireConstant(ctx.input(3), 'axes').map((a) => normAxis(a, rank)) : starts.map((_, i) => i);
      const steps = ctx.input(4) ? ctx.requireConstant(ctx.input(4), 'steps') : starts.map(() => 1);
      const part = ctx.cotangent(0);
      let g = part;
      const shape = [...ctx.shape(ctx.output(0))];
      const begins = new Array<number>(rank).fill(0);
      const endPads = new Array<number>(rank).fill(0);
      axes.forEach((axis, k) => {
        const step = steps[k] as number;
        if (step <= 0) ctx.fail('Slice with a negative step is not supported');
        if (typeof inShape[axis] !== 'number') {
          if (starts[k] === 0 && (ends[k] as number) >= INT64_MAX - 1 && step === 1) return; // whole batch axis
          ctx.fail(`slicing the batch axis is not supported`);
        }
        const size = inShape[axis] as number;
        const [start] = clampRange(starts[k] as number, ends[k] as number, size);
        const count = staticDim(ctx, shape[axis], `Slice output along axis ${axis}`);
        if (step > 1) {
          const padded = b.pad(
            b.unsqueeze(g, [axis + 1]),
            new Array<number>(rank + 1).fill(0),
            Array.from({ length: rank + 1 }, (_, i) => (i === axis + 1 ? step - 1 : 0)),
          );
          const merged = shape.map((d, i) => (i < axis ? 0 : i === axis ? count * step : staticDim(ctx, d, `Slice axis ${i}`)));
          g = b.reshape(padded, b.ints(merged));
          shape[axis] = count * step;
        }
        const covered = shape[axis] as number;
        begins[axis] = start;
        endPads[axis] = size - start - covered;
      });
      // A negative end pad (the interleaved tail reaches past the input) crops instead.
      const crop = endPads.some((p) => p < 0);
      g = b.pad(
        g,
        begins,
        endPads.map((p) => Math.max(p, 0)),
      );
      if (crop) {
        const cropAxes = endPads.map((p, i) => (p < 0 ? i : -1)).filter((i) => i >= 0);
        g = b.slice(
          g,
          cropAxes.map(() => 0),
          cropAxes.map((i) => inShape[i] as number),
          cropAxes,
        );
      }
      // A plain slice of one axis: the compiler may concatenate sibling slices' cotangents instead.
      const padded = begins.flatMap((p, i) => (p !== 0 || endPads[i] !== 0 ? [i] : []));
      const plain = !crop && steps.every((s) => s === 1) && padded.length === 1;
      const axis = padded[0] as number;
      ctx.give(0, g, plain ? { axis, start: begins[axis] as number, end: (begins[axis] as number) + (shape[axis] as number), part } : undefined);
    },
  },

  // Constant-mode Pad: the cotangent is the interior (negative pads crop in the forward pass,
  // so their backward pads with zeros).
  Pad: {
    differentiable: [0],
    backward(ctx) {
      const mode = getString(ctx.attrs, 'mode', 'constant');
      if (mode !== 'constant') ctx.fail(`Pad mode ${mode} is not supported`);
      const shape = ctx.shape(ctx.input(0));
      const rank = shape.length;
      const pads = ctx.opset < 11 ? (getInts(ctx.attrs, 'pads') ?? []) : ctx.requireConstant(ctx.input(1), 'pads');
      const axes = ctx.input(3) ? ctx.requireConstant(ctx.input(3), 'axes').map((a) => normAxis(a, rank)) : shape.map((_, i) => i);
      const begin = new Array<number>(rank).fill(0);
      const end = new Array<number>(rank).fill(0);
      axes.forEach((axis, k) => {
        begin[axis] = pads[k] as number;
        end[axis] = pads[k + axes.length] as number;
      });
      const b = ctx.b;
      const sliceAxes = shape.map((_, i) => i).filter((i) => (begin[i] as number) > 0 || (end[i] as number) > 0);
      const outShape = ctx.shape(ctx.output(0));
      let g = ctx.cotangent(0);
      if (sliceAxes.length > 0) {
        g = b.slice(
          g,
          sliceAxes.map((i) => Math.max(begin[i] as number, 0)),
          sliceAxes.map((i) => staticDim(ctx, outShape[i], 'a padded axis') - Math.max(end[i] as number, 0)),
          sliceAxes,
        );
      }
      ctx.give(
        0,
        b.pad(
          g,
          begin.map((p) => Math.max(-p, 0)),
          end.map((p) => Math.max(-p, 0)),
        ),
      );
    },
  },

  // Gather along `axis` with integer indices: the cotangent of each index position is added to
  // the gathered row, through a one-hot matrix (exact with repeated indices).
  Gather: {
    differentiable: [0],
    backward(ctx) {
      const b = ctx.b;
      const data = ctx.input(0);
      const dataShape = ctx.shape(data);
      const rank = dataShape.length;
      const axis = normAxis(getInt(ctx.attrs, 'axis', 0), rank);
      const depth = staticDim(ctx, dataShape[axis], `Gather axis ${axis}`);
      const indexShape = ctx.shape(ctx.input(1));
      const count = indexShape.reduce<number>((p, d) => p * staticDim(ctx, d, 'Gather indices'), 1);
      const flatIndices = b.reshape(ctx.input(1), b.ints([count]));
      const oneHot = b.op('OneHot', [flatIndices, b.ints([depth], []), b.floats([0, 1])], { axis: attr.int(-1) }); // [K, D]
      // g: data[:axis] + indices + data[axis+1:]  →  [data[:axis], K, data[axis+1:]]
      let g = ctx.cotangent(0);
      if (indexShape.length === 0) g = b.unsqueeze(g, [axis]);
      else if (indexShape.length > 1) {
        const post = dataShape.slice(axis + 1).map((d) => staticDim(ctx, d, 'Gather trailing axes'));
        g = b.reshape(g, b.ints([...new Array<number>(axis).fill(0), count, ...post]));
      }
      // Move K last, contract with the one-hot, move D back to `axis`.
      const toLast = [...Array.from({ length: rank }, (_, i) => i).filter((i) => i !== axis), axis];
      const back = new Array<number>(rank);
      toLast.forEach((p, i) => (back[p] = i));
      const scattered = b.op('MatMul', [b.transpose(g, toLast), oneHot]);
      ctx.give(0, b.transpose(scattered, back));
    },
  },

  // Tile repeats the whole block r times along each axis: axis i of the output is [rᵢ, dᵢ]
  // flattened, so the cotangent is reshaped to split every repeated axis and summed over the copies.
  Tile: {
    differentiable: [0],
    backward(ctx) {
      const b = ctx.b;
      const shape = ctx.shape(ctx.input(0));
      const repeats = ctx.requireConstant(ctx.input(1), 'repeats');
      const split: number[] = [];
      const copies: number[] = [];
      shape.forEach((d, i) => {
        const r = repeats[i] as number;
        if (r !== 1) {
          copies.push(split.length);
          split.push(r);
        }
        // Reshape's 0 copies the input's dim at the same index: only the leading axis keeps it.
        split.push(typeof d === 'number' ? d : split.length === 0 ? 0 : -1);
      });
      if (split.filter((d) => d === -1).length > 1) ctx.fail('tiling with a symbolic dimension after the first axis is not supported');
      const g = b.reshape(ctx.cotangent(0), b.ints(split));
      ctx.give(0, b.reshapeLike(b.reduceSum(g, copies, false), ctx.input(0)));
    },
  },

  // Both are permutations of elements, each the inverse of the other in DCR mode (ONNX defines
  // SpaceToDepth as DepthToSpace-DCR's inverse): the adjoint of a permutation is its inverse.
  DepthToSpace: {
    differentiable: [0],
    backward(ctx) {
      const b = ctx.b;
      const g = ctx.cotangent(0);
      const blocksize = getInt(ctx.attrs, 'blocksize', 0);
      if (getString(ctx.attrs, 'mode', 'DCR') === 'DCR') return ctx.give(0, b.op('SpaceToDepth', [g], { blocksize: attr.int(blocksize) }));
      // CRD: x [N, C, H, W] → [N, C/b², b, b, H, W] → perm (0, 1, 4, 2, 5, 3) → [N, C/b², H·b, W·b].
      const [, C, H, W] = ctx.shape(ctx.input(0)).map((d, i) => (i === 0 ? 0 : staticDim(ctx, d, `DepthToSpace axis ${i}`)));
      const c = (C as number) / (blocksize * blocksize);
      const split = b.reshape(g, b.ints([0, c, H as number, blocksize, W as number, blocksize]));
      ctx.give(0, b.reshape(b.transpose(split, [0, 1, 3, 5, 2, 4]), b.ints([0, C as number, H as number, W as number])));
    },
  },

  SpaceToDepth: {
    differentiable: [0],
    backward(ctx) {
      const blocksize = getInt(ctx.attrs, 'blocksize', 0);
      ctx.give(0, ctx.b.op('DepthToSpace', [ctx.cotangent(0)], { blocksize: attr.int(blocksize), mode: attr.string('DCR') }));
    },
  },

  // y[…, j, …] = x[…, idx[…, j, …], …] along `axis`: every cotangent is added back at its index.
  // From opset 16 one ScatterElements with add reduction (exact with repeated indices); before,
  // a one-hot over the axis, contracted with the cotangent.
  GatherElements: {
    differentiable: [0],
    backward(ctx) {
      const b = ctx.b;
      const data = ctx.input(0);
      const indices = ctx.input(1);
      const g = ctx.cotangent(0);
      const dataShape = ctx.shape(data);
      const rank = dataShape.length;
      const axis = normAxis(getInt(ctx.attrs, 'axis', 0), rank);
      if (ctx.opset >= 16) {
        const zeros = b.zerosLike(data);
        return ctx.give(0, b.op('ScatterElements', [zeros, indices, g], { axis: attr.int(axis), reduction: attr.string('add') }));
      }
      const indexShape = ctx.shape(indices);
      if (indexShape.some((d, i) => i !== axis && d !== dataShape[i])) ctx.fail('before opset 16, indices must match the data outside the gathered axis');
      const depth = staticDim(ctx, dataShape[axis], `GatherElements axis ${axis}`);
      const size = b.ints([depth], []);
      const wrapped = b.op('Where', [b.op('Less', [indices, b.ints([0], [])]), b.add(indices, size), indices]);
      // hit[…, j, …, k] = (idx[…, j, …] = k): sum over j of g·hit, then k moves back to `axis`.
      const hit = floatMask(ctx, b.op('Equal', [b.unsqueeze(wrapped, [rank]), b.ints(Array.from({ length: depth }, (_, k) => k))]));
      const summed = b.reduceSum(b.mul(hit, b.unsqueeze(g, [rank])), [axis], false);
      const perm = Array.from({ length: rank }, (_, i) => (i < axis ? i : i === axis ? rank - 1 : i - 1));
      ctx.give(0, b.transpose(summed, perm));
    },
  },
};
