// Convolution's input gradient.
//
// Stride 1 with constant weights: a Conv of the cotangent with the spatially flipped, in/out-
// transposed weights (precomputed here), padded by (effective kernel − 1 − pad) on each side.
// ONNX Runtime's Conv kernels are much faster than its ConvTranspose, and this is the common case.
//
// Otherwise: a ConvTranspose with the same weights, explicit pads and
// output_padding = (H + pad_begin + pad_end − effective_kernel) mod stride, which restores the
// exact input size (never auto_pad or output_shape, whose conventions differ between runtimes).
import { attr, getInt } from '../../onnx/attributes.js';
import { type TensorProto } from '../../onnx/proto.js';
import { floatValues, tensorDims } from '../../onnx/tensor.js';
import { type GradRule, type RuleContext } from '../rule.js';
import { intoBlockedLayout, windowGeometry } from './common.js';

/** W [M, C/G, k…] → W' [C, M/G, k…] with every spatial axis flipped, group by group. */
export function transposedFlippedWeights(weight: TensorProto, groups: number): { values: Float32Array; dims: number[] } {
  const [M = 0, Cg = 0, ...kernel] = tensorDims(weight);
  const w = floatValues(weight);
  const K = kernel.reduce((a, b) => a * b, 1);
  const Mg = M / groups;
  const out = new Float32Array(w.length);
  for (let g = 0; g < groups; g++) {
    for (let m = 0; m < Mg; m++) {
      for (let c = 0; c < Cg; c++) {
        const from = ((g * Mg + m) * Cg + c) * K;
        const to = ((g * Cg + c) * Mg + m) * K;
        // Flipping every spatial axis of a row-major block is reversing it.
        for (let k = 0; k < K; k++) out[to + k] = w[from + K - 1 - k] as number;
      }
    }
  }
  return { values: out, dims: [Cg * groups, Mg, ...kernel] };
}

/** Conv's backward from the cotangent `g` of its (pre-activation) output: input and bias. */
export function convBackward(ctx: RuleContext, g: string): void {
  const [x, w, bias] = [ctx.input(0), ctx.input(1), ctx.input(2)];
  if (ctx.needs(1)) ctx.fail('the gradient with respect to convolution weights is not supported (weights must not depend on the input)');
  if (bias && ctx.needs(2)) {
    const rank = ctx.shape(ctx.output(0)).length;
    ctx.give(2, ctx.b.reduceSum(g, [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)], false));
  }
  if (!ctx.needs(0)) return;
  const { inSizes, kernel, strides, dilations, extents, pads } = windowGeometry(ctx, () => ctx.shape(w).slice(2) as number[]);
  const group = getInt(ctx.attrs, 'group', 1);
  const rank = kernel.length;

  const weight = ctx.initializer(w);
  const convPads = pads.map((p, i) => (extents[i % rank] as number) - 1 - p);
  if (weight && strides.every((s) => s === 1) && convPads.every((p) => p >= 0)) {
    const flipped = transposedFlippedWeights(weight, group);
    ctx.give(
      0,
      ctx.b.op('Conv', [g, ctx.b.floats(flipped.values, flipped.dims)], {
        dilations: attr.ints(dilations),
        pads: attr.ints(convPads),
        group: attr.int(group),
        kernel_shape: attr.ints(kernel),
      }),
    );
    return;
  }

  const outputPadding = inSizes.map((size, i) => {
    const span = size + (pads[i] as number) + (pads[i + rank] as number) - (extents[i] as number);
    return span % (strides[i] as number);
  });
  ctx.give(
    0,
    intoBlockedLayout(
      ctx,
      ctx.b.op('ConvTranspose', [g, w], {
        strides: attr.ints(strides),
        dilations: attr.ints(dilations),
        pads: attr.ints(pads),
        output_padding: attr.ints(outputPadding),
        group: attr.int(group),
        kernel_shape: attr.ints(kernel),
      }),
      ctx.shape(x),
    ),
  );
}

export const convolutionRules: Record<string, GradRule> = {
  Conv: {
    backward(ctx) {
      convBackward(ctx, ctx.cotangent(0));
    },
  },
};
