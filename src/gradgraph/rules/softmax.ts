// Softmax and LogSoftmax: dense Jacobians. Before opset 13 the op flattens the input to 2-D
// around `axis` (default 1), so the normalised axes are axis…rank−1; from 13 on it is one axis
// (default −1). SmoothDiff evaluates the Jacobian at the mean input (an approximation).
import { getInt } from '../../onnx/attributes.js';
import { type GradRule, type RuleContext } from '../rule.js';
import { normAxis } from './common.js';

function softmaxAxes(ctx: RuleContext): number[] {
  const rank = ctx.shape(ctx.input(0)).length;
  const axis = normAxis(getInt(ctx.attrs, 'axis', ctx.opset < 13 ? 1 : -1), rank);
  if (ctx.opset >= 13) return [axis];
  return Array.from({ length: rank - axis }, (_, i) => axis + i);
}

/** The softmax to differentiate at: the node's own output, or recomputed at an injected point. */
function softmaxAt(ctx: RuleContext, log: boolean): string {
  const x = ctx.input(0);
  const at = ctx.derivative('input', ctx.shape(x), () => x);
  if (at === x) return log ? ctx.b.op('Exp', [ctx.output(0)]) : ctx.output(0);
  return ctx.b.op('Softmax', [at], ctx.attrs);
}

export const softmaxRules: Record<string, GradRule> = {
  // g_in = s ⊙ (g − Σ g⊙s)
  Softmax: {
    backward(ctx) {
      const g = ctx.cotangent(0);
      const s = softmaxAt(ctx, false);
      const dot = ctx.b.reduceSum(ctx.b.mul(g, s), softmaxAxes(ctx), true);
      ctx.give(0, ctx.b.mul(s, ctx.b.sub(g, dot)));
    },
  },
  // g_in = g − s ⊙ Σ g
  LogSoftmax: {
    backward(ctx) {
      const g = ctx.cotangent(0);
      const s = softmaxAt(ctx, true);
      const total = ctx.b.reduceSum(g, softmaxAxes(ctx), true);
      ctx.give(0, ctx.b.sub(g, ctx.b.mul(s, total)));
    },
  },
};
