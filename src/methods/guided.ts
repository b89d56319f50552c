// Guided Backprop (Springenberg et al. 2015): every ReLU passes back only positive cotangents at
// positive inputs, g_in = g_out · [x > 0] · [g_out > 0].
import { type BackwardPolicy } from '../gradgraph/index.js';

export const guidedReluPolicy: BackwardPolicy = {
  overrides: {
    Relu: {
      differentiable: [0],
      backward(ctx) {
        const b = ctx.b;
        const g = ctx.gradOut(0) as string;
        const positiveInput = b.op('Greater', [ctx.input(0), b.scalar(0)]);
        const positiveGrad = b.op('Greater', [g, b.scalar(0)]);
        ctx.give(0, b.mul(g, b.cast(b.op('And', [positiveInput, positiveGrad]), 1)));
      },
    },
  },
};
