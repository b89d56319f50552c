// ReduceSum / ReduceMean / ReduceMax / ReduceMin / ReduceL2. Axes come from the attribute (before opset 13
// for ReduceSum, before 18 for the others) or from the second input; none means all axes unless
// noop_with_empty_axes is set.
import { getInt, getInts } from '../../onnx/attributes.js';
import { type GradRule, type RuleContext } from '../rule.js';
import { floatMask, normAxis } from './common.js';

function reducedAxes(ctx: RuleContext): number[] | 'none' {
  const rank = ctx.shape(ctx.input(0)).length;
  const fromInput = ctx.input(1) ? ctx.requireConstant(ctx.input(1), 'the axes input') : undefined;
  const axes = fromInput ?? getInts(ctx.attrs, 'axes') ?? [];
  if (axes.length === 0) {
    return getInt(ctx.attrs, 'noop_with_empty_axes', 0) ? 'none' : Array.from({ length: rank }, (_, i) => i);
  }
  return axes.map((a) => normAxis(a, rank)).sort((p, q) => p - q);
}

/** The output cotangent broadcast back to the input's shape. */
function spread(ctx: RuleContext, axes: number[]): string {
  const g = ctx.gradOut(0) as string;
  const kept = getInt(ctx.attrs, 'keepdims', 1) ? g : ctx.b.unsqueeze(g, axes);
  return ctx.b.op('Expand', [kept, ctx.b.shapeOf(ctx.input(0))]);
}

function reduceRule(kind: 'sum' | 'mean' | 'extremum' | 'l2'): GradRule {
  return {
    differentiable: [0],
    backward(ctx) {
      const axes = reducedAxes(ctx);
      if (axes === 'none') return ctx.give(0, ctx.gradOut(0) as string);
      const g = spread(ctx, axes);
      const b = ctx.b;
      if (kind === 'sum') return ctx.give(0, g);
      const kept = () => (getInt(ctx.attrs, 'keepdims', 1) ? ctx.output(0) : b.unsqueeze(ctx.output(0), axes));
      if (kind === 'l2') {
        // d‖x‖ = x/‖x‖, and 0 where the norm is 0 (PyTorch's norm backward).
        const norm = kept();
        const safe = b.op('Where', [b.op('Equal', [norm, b.scalar(0)]), b.scalar(1), norm]);
        return ctx.give(0, b.mul(g, b.div(ctx.input(0), safe)));
      }
      const shape = ctx.shape(ctx.input(0));
      if (kind === 'mean') {
        const count = axes.map((a) => shape[a]);
        if (count.some((d) => typeof d !== 'number')) ctx.fail('ReduceMean over the batch axis is not supported');
        return ctx.give(0, b.mul(g, b.scalar(1 / (count as number[]).reduce((p, q) => p * q, 1))));
      }
      // Ties share the gradient evenly (PyTorch's amax/amin).
      const extremum = kept();
      const mask = ctx.derivative('ties', shape, () => {
        const hit = floatMask(ctx, b.op('Equal', [ctx.input(0), extremum]));
        return b.div(hit, b.reduceSum(hit, axes, true));
      });
      ctx.give(0, b.mul(g, mask));
    },
  };
}

export const reductionRules: Record<string, GradRule> = {
  ReduceSum: reduceRule('sum'),
  ReduceMean: reduceRule('mean'),
  ReduceMax: reduceRule('extremum'),
  ReduceMin: reduceRule('extremum'),
  ReduceL2: reduceRule('l2'),
};
