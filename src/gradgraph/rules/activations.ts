// Elementwise nonlinearities: g_in = g_out · φ'(x). The local derivative φ'(x) goes through
// `ctx.derivative`, so SmoothDiff can substitute its average over noisy copies.
// Kinks follow PyTorch: strict inequalities (ReLU passes gradient only where x > 0).
import { getFloat, getString } from '../../onnx/attributes.js';
import { type GradRule, type RuleContext } from '../rule.js';
import { depthwiseScale, floatMask, giveUnbroadcast } from './common.js';

/** A unary rule from a builder of φ'(x) (given x, y = φ(x)). */
export function unary(localDerivative: (ctx: RuleContext, x: string, y: string) => string): GradRule {
  return {
    differentiable: [0],
    backward(ctx) {
      const [x, y] = [ctx.input(0), ctx.output(0)];
      const d = ctx.derivative('dx', ctx.shape(x), () => localDerivative(ctx, x, y));
      ctx.give(0, ctx.b.mul(ctx.cotangent(0), d));
    },
  };
}

const greater = (ctx: RuleContext, x: string, v: number) => ctx.b.op('Greater', [x, ctx.b.scalar(v)]);
const less = (ctx: RuleContext, x: string, v: number) => ctx.b.op('Less', [x, ctx.b.scalar(v)]);
const between = (ctx: RuleContext, x: string, lo: string | undefined, hi: string | undefined): string => {
  const conds = [lo && ctx.b.op('Greater', [x, lo]), hi && ctx.b.op('Less', [x, hi])].filter(Boolean) as string[];
  if (conds.length === 0) return ctx.b.fillLike(x, 1);
  const cond = conds.length === 2 ? ctx.b.op('And', conds) : (conds[0] as string);
  return floatMask(ctx, cond);
};

const where = (ctx: RuleContext, cond: string, a: string, b: string) => ctx.b.op('Where', [cond, a, b]);

export const ReLU_MASK = (ctx: RuleContext, x: string) => floatMask(ctx, greater(ctx, x, 0));

/**
 * 1(y > 0) for a ReLU output y ≥ 0 as Clip(2^127·y, 0, 1), the scaling done by a depthwise 1×1
 * Conv. Same values as Greater + Cast for every y that is 0 or at least 2^-127 (all normal
 * floats); only subnormal outputs below 2^-127 would get a fraction. The point is the layout:
 * ONNX Runtime's CPU optimiser runs Conv+Clip and the Mul with the cotangent in its blocked NCHWc
 * layout, where Greater/Cast would force two reorders per ReLU (measured: ResNet-50's gradient
 * graph at batch 16 spent 18% of its time in ReorderOutput).
 */
export function reluMaskFromOutput(ctx: RuleContext, y: string): string {
  const shape = ctx.shape(y);
  const C = shape[1];
  // 2^127 is infinite in float16 (and 0·∞ is NaN): there the mask is Greater + Cast.
  if (shape.length !== 4 || typeof C !== 'number' || ctx.float16) return ReLU_MASK(ctx, y);
  return ctx.b.op('Clip', [depthwiseScale(ctx, y, C, 2 ** 127), ctx.b.scalar(0), ctx.b.scalar(1)]);
}

export const activationRules: Record<string, GradRule> = {
  // The mask reads the output: y > 0 ⟺ x > 0 (strict, as in PyTorch), so the runtime can still
  // fuse Conv+Relu and never materialise x. (Measured on ONNX Runtime's CPU kernels: Greater +
  // Cast + Mul is faster than Sign + Mul or Where with a broadcast zero; on image tensors the
  // Conv+Clip form below is faster still, see reluMaskFromOutput.)
  Relu: unary((ctx, _x, y) => reluMaskFromOutput(ctx, y)),

  LeakyRelu: unary((ctx, _x, y) => {
    const alpha = getFloat(ctx.attrs, 'alpha', 0.01);
    // mask·(1−α) + α: 1 where x > 0 (⟺ y > 0 for α ≥ 0), α elsewhere.
    return ctx.b.add(ctx.b.mul(ReLU_MASK(ctx, alpha >= 0 ? y : _x), ctx.b.scalar(1 - alpha)), ctx.b.scalar(alpha));
  }),

  // Clip bounds: attributes before opset 11, optional inputs from 11 on.
  Clip: unary((ctx, x) => {
    if (ctx.opset < 11) {
      const lo = ctx.attrs['min'] ? ctx.b.scalar(getFloat(ctx.attrs, 'min', 0)) : undefined;
      const hi = ctx.attrs['max'] ? ctx.b.scalar(getFloat(ctx.attrs, 'max', 0)) : undefined;
      return between(ctx, x, lo, hi);
    }
    return between(ctx, x, ctx.input(1) || undefined, ctx.input(2) || undefined);
  }),

  Sigmoid: unary((ctx, _x, y) => ctx.b.mul(y, ctx.b.sub(ctx.b.scalar(1), y))),

  Tanh: unary((ctx, _x, y) => ctx.b.sub(ctx.b.scalar(1), ctx.b.mul(y, y))),

  // y = max(0, min(1, αx + β)): derivative α strictly inside (0, 1).
  HardSigmoid: unary((ctx, x) => {
    const alpha = getFloat(ctx.attrs, 'alpha', 0.2);
    const beta = getFloat(ctx.attrs, 'beta', 0.5);
    const z = ctx.b.add(ctx.b.mul(x, ctx.b.scalar(alpha)), ctx.b.scalar(beta));
    const inside = floatMask(ctx, ctx.b.op('And', [greater(ctx, z, 0), less(ctx, z, 1)]));
    return ctx.b.mul(inside, ctx.b.scalar(alpha));
  }),

  // PyTorch's hardswish_backward: 0 for x < −3, x/3 + 1/2 for −3 ≤ x ≤ 3, 1 above.
  HardSwish: unary((ctx, x) => {
    const b = ctx.b;
    const middle = b.add(b.mul(x, b.scalar(1 / 3)), b.scalar(0.5));
    const upper = b.op('Where', [b.op('Greater', [x, b.scalar(3)]), b.scalar(1), middle]);
    return b.op('Where', [less(ctx, x, -3), b.scalar(0), upper]);
  }),

  // erf'(x) = 2/√π · exp(−x²) = exp(ln(2/√π) − x²): three elementwise passes instead of four
  // (they are memory-bound; GELU's Erf runs on ViT's largest tensors).
  Erf: unary((ctx, x) => {
    const b = ctx.b;
    return b.op('Exp', [b.sub(b.scalar(Math.log(2 / Math.sqrt(Math.PI))), b.mul(x, x))]);
  }),

  // Gelu (opset 20): exact Φ(x) + x·φ(x), or the tanh approximation's own derivative.
  Gelu: unary((ctx, x) => (getString(ctx.attrs, 'approximate', 'none') === 'tanh' ? geluTanhDerivative(ctx, x) : geluDerivative(ctx, x))),

  // y = x for x > 0, α(eˣ − 1) otherwise: y' = 1, or y + α.
  Elu: unary((ctx, x, y) => {
    const alpha = getFloat(ctx.attrs, 'alpha', 1);
    return where(ctx, greater(ctx, x, 0), ctx.b.scalar(1), ctx.b.add(y, ctx.b.scalar(alpha)));
  }),

  // y = γ·x for x > 0, γ·α(eˣ − 1) otherwise: y' = γ, or y + γα.
  Selu: unary((ctx, x, y) => {
    const alpha = getFloat(ctx.attrs, 'alpha', 1.67326319217681884765625);
    const gamma = getFloat(ctx.attrs, 'gamma', 1.05070102214813232421875);
    return where(ctx, greater(ctx, x, 0), ctx.b.scalar(gamma), ctx.b.add(y, ctx.b.scalar(gamma * alpha)));
  }),

  // y = max(0, x) + min(0, α(e^(x/α) − 1)): y' = 1 for x > 0, e^(x/α) otherwise.
  Celu: unary((ctx, x) => {
    const alpha = getFloat(ctx.attrs, 'alpha', 1);
    return where(ctx, greater(ctx, x, 0), ctx.b.scalar(1), ctx.b.op('Exp', [ctx.b.mul(x, ctx.b.scalar(1 / alpha))]));
  }),

  // y = ln(1 + eˣ): y' = σ(x).
  Softplus: unary((ctx, x) => ctx.b.op('Sigmoid', [x])),

  // y = x / (1 + |x|): y' = 1 / (1 + |x|)².
  Softsign: unary((ctx, x) => {
    const den = ctx.b.add(ctx.b.scalar(1), ctx.b.op('Abs', [x]));
    return ctx.b.op('Reciprocal', [ctx.b.mul(den, den)]);
  }),

  // y = x·tanh(softplus(x)): y' = t + x·σ(x)·(1 − t²), t = tanh(softplus(x)).
  Mish: unary((ctx, x) => {
    const b = ctx.b;
    const t = b.op('Tanh', [b.op('Softplus', [x])]);
    return b.add(t, b.mul(b.mul(x, b.op('Sigmoid', [x])), b.sub(b.scalar(1), b.mul(t, t))));
  }),

  // y = x for x > α, 0 otherwise (strict, like Relu).
  ThresholdedRelu: unary((ctx, x) => floatMask(ctx, greater(ctx, x, getFloat(ctx.attrs, 'alpha', 1)))),

  // d|x| = sign(x), 0 at 0 (PyTorch's abs backward).
  Abs: unary((ctx, x) => ctx.b.op('Sign', [x])),

  // y = x for x > 0, slope·x otherwise; the slope broadcasts to x (one per channel, usually).
  PRelu: {
    backward(ctx) {
      const b = ctx.b;
      const g = ctx.cotangent(0);
      const [x, slope] = [ctx.input(0), ctx.input(1)];
      const positive = greater(ctx, x, 0);
      if (ctx.needs(0)) {
        const d = ctx.derivative('dx', ctx.shape(x), () => where(ctx, positive, b.scalar(1), b.op('Expand', [slope, b.shapeOf(x)])));
        ctx.give(0, b.mul(g, d));
      }
      if (ctx.needs(1)) giveUnbroadcast(ctx, 1, b.mul(g, where(ctx, positive, b.scalar(0), x)));
    },
  },

  Sqrt: unary((ctx, _x, y) => ctx.b.div(ctx.b.scalar(0.5), y)),
  Reciprocal: unary((ctx, _x, y) => ctx.b.neg(ctx.b.mul(y, y))),
  Exp: unary((_ctx, _x, y) => y),
  Log: unary((ctx, x) => ctx.b.op('Reciprocal', [x])),
};

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_CUBIC = 0.044715;

/** Exact GELU's derivative Φ(x) + x·φ(x). */
export function geluDerivative(ctx: RuleContext, x: string): string {
  const b = ctx.b;
  const cdf = b.mul(b.scalar(0.5), b.add(b.scalar(1), b.op('Erf', [b.mul(x, b.scalar(Math.SQRT1_2))])));
  const pdf = b.mul(b.scalar(1 / Math.sqrt(2 * Math.PI)), b.op('Exp', [b.mul(b.scalar(-0.5), b.mul(x, x))]));
  return b.add(cdf, b.mul(x, pdf));
}

/**
 * Derivative of the tanh approximation y = x/2·(1 + tanh u), u = √(2/π)·(x + 0.044715x³):
 * (1 + t)/2 + x/2·(1 − t²)·√(2/π)·(1 + 3·0.044715x²), t = tanh u.
 */
export function geluTanhDerivative(ctx: RuleContext, x: string): string {
  const b = ctx.b;
  const x2 = b.mul(x, x);
  const u = b.mul(b.scalar(SQRT_2_OVER_PI), b.add(x, b.mul(b.scalar(GELU_CUBIC), b.mul(x2, x))));
  const t = b.op('Tanh', [u]);
  const du = b.mul(b.scalar(SQRT_2_OVER_PI), b.add(b.scalar(1), b.mul(b.scalar(3 * GELU_CUBIC), x2)));
  const half = b.scalar(0.5);
  return b.add(b.mul(half, b.add(b.scalar(1), t)), b.mul(b.mul(half, x), b.mul(b.sub(b.scalar(1), b.mul(t, t)), du)));
}
