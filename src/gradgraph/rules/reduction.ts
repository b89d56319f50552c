// ReduceSum / ReduceMean / ReduceMax / ReduceMin / ReduceL1 / ReduceL2 / ReduceSumSquare /
// ReduceProd / ReduceLogSum / ReduceLogSumExp. Axes come from the attribute (before opset 13
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
  const g = ctx.cotangent(0);
  const kept = getInt(ctx.attrs, 'keepdims', 1) ? g : ctx.b.unsqueeze(g, axes);
  return ctx.b.op('Expand', [kept, ctx.b.shapeOf(ctx.input(0))]);
}

type Kind = 'sum' | 'mean' | 'extremum' | 'l1' | 'l2' | 'sumSquare' | 'prod' | 'logSum' | 'logSumExp';

function reduceRule(kind: Kind): GradRule {
  return {
    differentiable: [0],
    backward(ctx) {
      const axes = reducedAxes(ctx);
      if (axes === 'none') return ctx.give(0, ctx.cotangent(0));
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
      const x = ctx.input(0);
      const local = (compute: () => string) => ctx.give(0, b.mul(g, ctx.derivative('dx', ctx.shape(x), compute)));
      // d‖x‖₁ = sign(x) (0 at 0, as PyTorch's abs).
      if (kind === 'l1') return local(() => b.op('Sign', [x]));
      if (kind === 'sumSquare') return local(() => b.mul(x, b.scalar(2)));
      // d log Σx = 1/Σx = e^(−y);  d log Σeˣ = eˣ/Σeˣ = e^(x − y).
      if (kind === 'logSum') return local(() => b.op('Exp', [b.neg(kept())]));
      if (kind === 'logSumExp') return local(() => b.op('Exp', [b.sub(x, kept())]));
      if (kind === 'prod') return local(() => productOfOthers(ctx, axes));
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

/**
 * ∂(Π x)/∂xᵢ = Π_{j≠i} xⱼ, exact with zeros (no division by a zero): with no zero in the
 * reduced group it is y/xᵢ; with exactly one zero it is the product of the non-zeros at the zero
 * and 0 elsewhere; with two or more it is 0 everywhere.
 */
function productOfOthers(ctx: RuleContext, axes: number[]): string {
  const b = ctx.b;
  const x = ctx.input(0);
  const isZero = b.op('Equal', [x, b.scalar(0)]);
  const nonZero = b.op('Where', [isZero, b.scalar(1), x]);
  const product = b.reduce('ReduceProd', nonZero, axes, true);
  const zeros = b.reduceSum(floatMask(ctx, isZero), axes, true);
  const atZero = b.mul(product, floatMask(ctx, b.op('Equal', [zeros, b.scalar(1)])));
  const elsewhere = b.mul(b.div(product, nonZero), floatMask(ctx, b.op('Equal', [zeros, b.scalar(0)])));
  return b.op('Where', [isZero, atZero, elsewhere]);
}

export const reductionRules: Record<string, GradRule> = {
  ReduceSum: reduceRule('sum'),
  ReduceMean: reduceRule('mean'),
  ReduceMax: reduceRule('extremum'),
  ReduceMin: reduceRule('extremum'),
  ReduceL1: reduceRule('l1'),
  ReduceL2: reduceRule('l2'),
  ReduceSumSquare: reduceRule('sumSquare'),
  ReduceProd: reduceRule('prod'),
  ReduceLogSum: reduceRule('logSum'),
  ReduceLogSumExp: reduceRule('logSumExp'),
};
