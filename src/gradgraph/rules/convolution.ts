// Convolution: the input gradient is a ConvTranspose with the same weights, explicit pads and
// output_padding = (H + pad_begin + pad_end − effective_kernel) mod stride, which restores the
// exact input size (never auto_pad or output_shape, whose conventions differ between runtimes).
import { attr, getInt, getInts } from '../../onnx/attributes.js';
import { type GradRule } from '../rule.js';
import { resolvePads, spatialDims } from './common.js';

export const convolutionRules: Record<string, GradRule> = {
  Conv: {
    backward(ctx) {
      const g = ctx.gradOut(0) as string;
      const [x, w, bias] = [ctx.input(0), ctx.input(1), ctx.input(2)];
      if (ctx.needs(1)) ctx.fail('the gradient with respect to convolution weights is not supported (weights must not depend on the input)');
      if (bias && ctx.needs(2)) {
        const rank = ctx.shape(ctx.output(0)).length;
        ctx.give(2, ctx.b.reduceSum(g, [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)], false));
      }
      if (!ctx.needs(0)) return;
      const inSizes = spatialDims(ctx, x);
      const outSizes = spatialDims(ctx, ctx.output(0));
      const kernel = getInts(ctx.attrs, 'kernel_shape') ?? (ctx.shape(w).slice(2) as number[]);
      const strides = getInts(ctx.attrs, 'strides') ?? kernel.map(() => 1);
      const dilations = getInts(ctx.attrs, 'dilations') ?? kernel.map(() => 1);
      const extents = kernel.map((k, i) => (k - 1) * (dilations[i] as number) + 1);
      const pads = resolvePads(ctx, inSizes, outSizes, extents, strides);
      const outputPadding = inSizes.map((size, i) => {
        const span = size + (pads[i] as number) + (pads[i + kernel.length] as number) - (extents[i] as number);
        return span % (strides[i] as number);
      });
      ctx.give(
        0,
        ctx.b.op('ConvTranspose', [g, w], {
          strides: attr.ints(strides),
          dilations: attr.ints(dilations),
          pads: attr.ints(pads),
          output_padding: attr.ints(outputPadding),
          group: attr.int(getInt(ctx.attrs, 'group', 1)),
          kernel_shape: attr.ints(kernel),
        }),
      );
    },
  },
};
