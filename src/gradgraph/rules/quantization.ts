// QDQ-quantised models: QuantizeLinear → (int8/uint8 tensor) → DequantizeLinear around each
// quantised op. Rounding has a zero derivative almost everywhere, so the gradient is the
// straight-through estimator (Bengio et al. 2013), as PyTorch's fake-quantize backward has it:
// the cotangent passes where the value was representable and is 0 where QuantizeLinear
// saturated. Each op's rule is its own part of that: QuantizeLinear g/scale·[not saturated],
// DequantizeLinear g·scale, so a Q→DQ pair passes g·[not saturated] exactly.
import { getInt } from '../../onnx/attributes.js';
import { type GradRule, type RuleContext } from '../rule.js';
import { floatMask, normAxis } from './common.js';

const STRAIGHT_THROUGH =
  'straight-through quantization: the gradient passes QuantizeLinear/DequantizeLinear as if rounding were the identity, and is 0 where a value saturated';

/** A scale (scalar, or per-axis 1-D along `axis`) shaped to broadcast against x. */
function broadcastScale(ctx: RuleContext, scale: string, x: string): string {
  const rank = ctx.shape(x).length;
  if (getInt(ctx.attrs, 'block_size', 0) > 0) ctx.fail('blocked quantization is not supported');
  if (ctx.shape(scale).length === 0) return scale;
  const axis = normAxis(getInt(ctx.attrs, 'axis', 1), rank);
  return ctx.b.unsqueeze(
    scale,
    Array.from({ length: rank - axis - 1 }, (_, i) => axis + 1 + i),
  );
}

export const quantizationRules: Record<string, GradRule> = {
  QuantizeLinear: {
    differentiable: [0],
    quantizedOutputs: true,
    approximation: STRAIGHT_THROUGH,
    backward(ctx) {
      const b = ctx.b;
      const [x, q] = [ctx.input(0), ctx.output(0)];
      const scale = broadcastScale(ctx, ctx.input(1), x);
      const zeroPoint = ctx.input(2) ? b.toFloat(broadcastScale(ctx, ctx.input(2), x)) : b.scalar(0);
      // Not saturated ⟺ the stored integer equals the unclamped round(x/scale) + zero point.
      const unclamped = b.add(b.op('Round', [b.div(x, scale)]), zeroPoint);
      const representable = ctx.derivative('dx', ctx.shape(x), () => floatMask(ctx, b.op('Equal', [b.toFloat(q), unclamped])));
      ctx.give(0, b.mul(b.div(ctx.cotangent(0), scale), representable));
    },
  },

  DequantizeLinear: {
    differentiable: [0],
    approximation: STRAIGHT_THROUGH,
    backward(ctx) {
      ctx.give(0, ctx.b.mul(ctx.cotangent(0), broadcastScale(ctx, ctx.input(1), ctx.input(0))));
    },
  },
};
