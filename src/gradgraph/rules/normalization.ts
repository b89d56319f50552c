// Inference-mode BatchNormalization (an affine map per channel) and LayerNormalization.
import { getFloat, getInt } from '../../onnx/attributes.js';
import { type GradRule } from '../rule.js';
import { normAxis } from './common.js';

export const normalizationRules: Record<string, GradRule> = {
  // y = scale·(x − mean)/√(var + ε) + bias  ⇒  g_in = g · scale/√(var + ε), per channel.
  BatchNormalization: {
    differentiable: [0],
    backward(ctx) {
      if (getInt(ctx.attrs, 'training_mode', 0) === 1) ctx.fail('training-mode BatchNormalization is not supported; export the model in eval mode');
      const b = ctx.b;
      const rank = ctx.shape(ctx.input(0)).length;
      const eps = getFloat(ctx.attrs, 'epsilon', 1e-5);
      const factor = b.div(ctx.input(1), b.op('Sqrt', [b.add(ctx.input(4), b.scalar(eps))]));
      const perChannel = b.unsqueeze(factor, Array.from({ length: rank - 2 }, (_, i) => i + 1));
      ctx.give(0, b.mul(ctx.gradOut(0) as string, perChannel));
    },
  },

  // Over the axes axis…rank−1, with x̂ = (x − μ)·r, r = 1/√(σ² + ε), d = g·scale:
  //   g_x = r · (d − mean(d) − x̂ · mean(d ⊙ x̂)),  g_scale = Σ g ⊙ x̂,  g_bias = Σ g.
  // SmoothDiff evaluates this dense Jacobian at the mean input (an approximation).
  LayerNormalization: {
    differentiable: [0, 1, 2],
    backward(ctx) {
      const b = ctx.b;
      const g = ctx.gradOut(0) as string;
      const x = ctx.input(0);
      const shape = ctx.shape(x);
      const axis = normAxis(getInt(ctx.attrs, 'axis', -1), shape.length);
      const axes = Array.from({ length: shape.length - axis }, (_, i) => axis + i);
      const eps = getFloat(ctx.attrs, 'epsilon', 1e-5);
      const at = ctx.derivative('input', shape, () => x);
      const centred = b.sub(at, b.reduce('ReduceMean', at, axes, true));
      const variance = b.reduce('ReduceMean', b.mul(centred, centred), axes, true);
      const r = b.op('Reciprocal', [b.op('Sqrt', [b.add(variance, b.scalar(eps))])]);
      const xhat = b.mul(centred, r);
      if (ctx.needs(0)) {
        const d = b.mul(g, ctx.input(1));
        const meanD = b.reduce('ReduceMean', d, axes, true);
        const meanDX = b.reduce('ReduceMean', b.mul(d, xhat), axes, true);
        ctx.give(0, b.mul(r, b.sub(b.sub(d, meanD), b.mul(xhat, meanDX))));
      }
      const leading = Array.from({ length: axis }, (_, i) => i);
      if (ctx.needs(1)) ctx.give(1, b.reduceSum(b.mul(g, xhat), leading, false));
      if (ctx.input(2) && ctx.needs(2)) ctx.give(2, b.reduceSum(g, leading, false));
    },
  },
};
