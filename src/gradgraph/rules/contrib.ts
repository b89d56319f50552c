// com.microsoft contrib ops, as ONNX Runtime's graph optimiser and fusing exporters write them.
// Their forward parts stay as they are (the runtime that loaded the model runs them); everything
// emitted here is standard ONNX, because the backward must run on any ONNX Runtime build.
import { getFloat, getInt, getString } from '../../onnx/attributes.js';
import { type GradRule, type RuleContext } from '../rule.js';
import { geluDerivative, geluTanhDerivative, reluMaskFromOutput, unary } from './activations.js';
import { floatMask, unbroadcast } from './common.js';
import { convBackward } from './convolution.js';
import { gemmBackward, matMulBackward } from './linear-algebra.js';
import { standardised } from './normalization.js';

/** A fused activation's parameters, by the names of the plain op's attributes. */
type ActivationParams = { alpha?: number; beta?: number; gamma?: number; min?: number; max?: number };

/**
 * Derivative of a fused activation, read from its output y (the pre-activation is never a
 * tensor of the fused graph). Each is exact: y determines the branch of every piecewise form
 * (min < y < max ⟺ min < x < max for Clip, 0 < y < 1 ⟺ 0 < αx + β < 1 for HardSigmoid, y > 0
 * ⟺ x > 0 for Relu, LeakyRelu, Elu, Celu and Selu with positive parameters, y > 0 ⟺ x > α for
 * ThresholdedRelu with α ≥ 0), and the smooth ones are functions of y (Softplus: σ(x) = 1 − e^−y;
 * Softsign: 1/(1 + |x|)² = (1 − |y|)²).
 */
function fusedActivationDerivative(ctx: RuleContext, activation: string, p: ActivationParams, y: string): string | undefined {
  const b = ctx.b;
  const inside = (lo: number, hi: number) => floatMask(ctx, b.op('And', [b.op('Greater', [y, b.scalar(lo)]), b.op('Less', [y, b.scalar(hi)])]));
  const positive = () => b.op('Greater', [y, b.scalar(0)]);
  const needPositive = (name: string, value: number) => {
    if (!(value > 0)) ctx.fail(`${activation} with ${name} ${value} cannot be differentiated from its output (it needs ${name} > 0)`);
    return value;
  };
  switch (activation) {
    case '':
      return undefined;
    case 'Relu':
      return reluMaskFromOutput(ctx, y);
    case 'Sigmoid':
      return b.mul(y, b.sub(b.scalar(1), y));
    case 'Tanh':
      return b.sub(b.scalar(1), b.mul(y, y));
    case 'LeakyRelu': {
      const alpha = p.alpha ?? 0.01;
      if (alpha < 0) ctx.fail('LeakyRelu with a negative slope cannot be differentiated from its output');
      return b.add(b.mul(floatMask(ctx, positive()), b.scalar(1 - alpha)), b.scalar(alpha));
    }
    case 'Clip':
      return inside(p.min ?? -Infinity, p.max ?? Infinity);
    case 'HardSigmoid':
      return b.mul(inside(0, 1), b.scalar(p.alpha ?? 0.2));
    // y = α(eˣ − 1) for x ≤ 0: y' = y + α.
    case 'Elu':
      return b.op('Where', [positive(), b.scalar(1), b.add(y, b.scalar(needPositive('alpha', p.alpha ?? 1)))]);
    // y = α(e^(x/α) − 1) for x ≤ 0: y' = y/α + 1.
    case 'Celu': {
      const alpha = needPositive('alpha', p.alpha ?? 1);
      return b.op('Where', [positive(), b.scalar(1), b.add(b.mul(y, b.scalar(1 / alpha)), b.scalar(1))]);
    }
    // y = γx for x > 0, γα(eˣ − 1) else: y' = γ, or y + γα.
    case 'Selu': {
      const alpha = needPositive('alpha', p.alpha ?? 1.67326319217681884765625);
      const gamma = needPositive('gamma', p.gamma ?? 1.05070102214813232421875);
      return b.op('Where', [positive(), b.scalar(gamma), b.add(y, b.scalar(gamma * alpha))]);
    }
    case 'Softplus':
      return b.sub(b.scalar(1), b.op('Exp', [b.op('Neg', [y])]));
    case 'Softsign': {
      const rest = b.sub(b.scalar(1), b.op('Abs', [y]));
      return b.mul(rest, rest);
    }
    case 'ThresholdedRelu': {
      const alpha = p.alpha ?? 1;
      if (alpha < 0) ctx.fail('ThresholdedRelu with a negative alpha cannot be differentiated from its output');
      return floatMask(ctx, positive());
    }
    default:
      return ctx.fail(`fused activation ${activation} is not supported (${FUSED_ACTIVATIONS.join(', ')} are)`);
  }
}

/** The activations ONNX Runtime fuses into FusedConv (Relu … HardSigmoid) and FusedGemm (any of these but Clip). */
const FUSED_ACTIVATIONS = ['Relu', 'Clip', 'HardSigmoid', 'Sigmoid', 'LeakyRelu', 'Tanh', 'Elu', 'Celu', 'Selu', 'Softplus', 'Softsign', 'ThresholdedRelu'];

/** The output cotangent times the fused activation's derivative (a policy may replace it). */
function preActivationGrad(ctx: RuleContext, activation: string, params: ActivationParams): string {
  const g = ctx.cotangent(0);
  const y = ctx.output(0);
  if (!activation) return g;
  const d = ctx.derivative('dx', ctx.shape(y), () => fusedActivationDerivative(ctx, activation, params, y) as string);
  return ctx.b.mul(g, d);
}

/** A binary "x + bias, then φ" op: the sum's cotangent goes to both operands. */
function biasThen(derivative: (ctx: RuleContext, z: string) => string): GradRule {
  return {
    backward(ctx) {
      const [x, bias] = [ctx.input(0), ctx.input(1)];
      const z = bias ? ctx.b.add(x, bias) : x;
      const gz = ctx.b.mul(
        ctx.cotangent(0),
        ctx.derivative('dx', ctx.shape(ctx.output(0)), () => derivative(ctx, z)),
      );
      const full = ctx.shape(ctx.output(0));
      for (const i of [0, 1]) if (ctx.input(i) && ctx.needs(i)) ctx.give(i, unbroadcast(ctx, gz, ctx.shape(ctx.input(i)), full));
    },
  };
}

export const contribRules: Record<string, GradRule> = {
  // Y = act(Conv(X, W, B) + Z): Conv's backward from the pre-activation cotangent; Z gets it whole.
  FusedConv: {
    backward(ctx) {
      // activation_params: [alpha] (LeakyRelu), [alpha, beta] (HardSigmoid) or [min, max] (Clip).
      const activation = getString(ctx.attrs, 'activation', '');
      const [first, second] = ctx.attrs['activation_params']?.floats ?? [];
      const params = activation === 'Clip' ? { min: first, max: second } : { alpha: first, beta: second };
      const gpre = preActivationGrad(ctx, activation, params);
      if (ctx.input(3) && ctx.needs(3)) ctx.give(3, gpre);
      convBackward(ctx, gpre);
    },
  },

  // Y = act(α·A'B' + β·C); the activation's own attributes prefixed: activation_alpha, _beta, _gamma.
  // ONNX Runtime's FusedGemm kernel builds the activation from those attributes, so it has no Clip
  // (Clip's bounds are inputs).
  FusedGemm: {
    backward(ctx) {
      const activation = getString(ctx.attrs, 'activation', '');
      if (activation === 'Clip') ctx.fail('FusedGemm with Clip is not an op ONNX Runtime runs (its FusedGemm kernel has no Clip)');
      const param = (name: string) => (ctx.attrs[`activation_${name}`] ? getFloat(ctx.attrs, `activation_${name}`, 0) : undefined);
      gemmBackward(ctx, preActivationGrad(ctx, activation, { alpha: param('alpha'), beta: param('beta'), gamma: param('gamma') }));
    },
  },

  // Y = α·A'·B' (ONNX Runtime's MatMul + Transpose/scale fusion in transformer files).
  FusedMatMul: {
    backward(ctx) {
      if (getInt(ctx.attrs, 'transBatchA', 0) || getInt(ctx.attrs, 'transBatchB', 0)) ctx.fail('transBatchA/transBatchB are not supported');
      matMulBackward(ctx, {
        transA: getInt(ctx.attrs, 'transA', 0) === 1,
        transB: getInt(ctx.attrs, 'transB', 0) === 1,
        alpha: getFloat(ctx.attrs, 'alpha', 1),
      });
    },
  },

  // Exact (erf) GELU.
  Gelu: unary((ctx, x) => geluDerivative(ctx, x)),
  // GELU of X + bias, exact.
  BiasGelu: biasThen(geluDerivative),
  // The tanh approximation of GELU of X (+ optional bias).
  FastGelu: biasThen(geluTanhDerivative),

  // y = x·σ(αx): y' = s + αx·s(1 − s), s = σ(αx).
  QuickGelu: unary((ctx, x) => {
    const b = ctx.b;
    const alpha = getFloat(ctx.attrs, 'alpha', 1.702);
    const s = b.op('Sigmoid', [b.mul(x, b.scalar(alpha))]);
    return b.add(s, b.mul(b.mul(x, b.scalar(alpha)), b.mul(s, b.sub(b.scalar(1), s))));
  }),

  // Y = X + bias + skip (bias [C] over the last axis).
  BiasAdd: {
    backward(ctx) {
      const g = ctx.cotangent(0);
      const full = ctx.shape(ctx.output(0));
      for (const i of [0, 1, 2]) if (ctx.needs(i)) ctx.give(i, unbroadcast(ctx, g, ctx.shape(ctx.input(i)), full));
    },
  },

  // s = input + skip (+ bias); output 0 = LayerNorm(s) over the last axis · gamma + beta;
  // optional output 3 is s itself (a residual stream that continues). Outputs 1 and 2 (mean,
  // inverse standard deviation) are statistics nothing differentiates through.
  SkipLayerNormalization: {
    differentiable: [0, 1, 4],
    backward(ctx) {
      const b = ctx.b;
      const [input, skip, gamma, , bias] = [0, 1, 2, 3, 4].map((i) => ctx.input(i));
      const shape = ctx.shape(input as string);
      const axes = [shape.length - 1];
      const withSkip = b.add(input as string, skip as string);
      const s = bias ? b.add(withSkip, bias) : withSkip;
      const terms: string[] = [];
      const g = ctx.gradOut(0);
      if (g) terms.push(standardised(ctx, s, shape, axes, getFloat(ctx.attrs, 'epsilon', 1e-12)).inputGrad(b.mul(g, gamma as string)));
      const gSum = ctx.gradOut(3);
      if (gSum) terms.push(gSum);
      const gs = b.sum(terms);
      for (const i of [0, 1, 4]) if (ctx.input(i) && ctx.needs(i)) ctx.give(i, unbroadcast(ctx, gs, ctx.shape(ctx.input(i)), shape));
    },
  },
};

/**
 * A fused Conv/Gemm whose activation a policy replaces (Guided Backprop's ReLU): the
 * pre-activation is recomputed with standard ops, the policy's rule differentiates the activation
 * on it, and the Conv/Gemm backward continues from there. Without this, a method that changes
 * ReLU's backward would silently treat an optimised file's fused ReLUs as plain ones.
 */
export function fusedWithActivationRule(opType: 'FusedConv' | 'FusedGemm', activationRule: GradRule): GradRule {
  return {
    backward(ctx) {
      const b = ctx.b;
      const activation = getString(ctx.attrs, 'activation', '');
      const linearAttrs = Object.fromEntries(Object.entries(ctx.attrs).filter(([name]) => !name.startsWith('activation')));
      const inputs = ctx.node.inputs.slice(0, 3).filter((t, i) => i < 2 || t);
      let pre = b.op(opType === 'FusedConv' ? 'Conv' : 'Gemm', inputs, linearAttrs);
      if (opType === 'FusedConv' && ctx.input(3)) pre = b.add(pre, ctx.input(3));
      let gpre: string | undefined;
      const activationNode = { ...ctx.node, opType: activation, domain: '', inputs: [pre], attrs: {} };
      activationRule.backward({
        ...ctx,
        node: activationNode,
        attrs: {},
        input: (i) => (i === 0 ? pre : ''),
        shape: (t) => ctx.shape(t === pre ? ctx.output(0) : t),
        needs: (i) => i === 0,
        give: (i, g) => {
          if (i === 0) gpre = gpre ? b.add(gpre, g) : g;
        },
      });
      const g = gpre ?? ctx.fail(`the ${activation} rule gave no cotangent`);
      if (opType === 'FusedConv') {
        if (ctx.input(3) && ctx.needs(3)) ctx.give(3, g);
        convBackward(ctx, g);
      } else {
        gemmBackward(ctx, g);
      }
    },
  };
}
