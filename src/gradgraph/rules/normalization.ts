// Inference-mode BatchNormalization (an affine map per channel); Layer-, Instance- and
// GroupNormalization (standardisation over some axes, then a per-channel affine map); LRN.
import { getFloat, getInt } from '../../onnx/attributes.js';
import { type Dim } from '../../onnx/shapes.js';
import { type GradRule, type RuleContext } from '../rule.js';
import { normAxis, spatialDims } from './common.js';

/**
 * x̂ = (x − μ)·r over `axes`, r = 1/√(σ² + ε), and the map from d = ∂L/∂x̂ to ∂L/∂x:
 *   g_x = r · (d − mean(d) − x̂ · mean(d ⊙ x̂)).
 * The statistics are recomputed at `ctx.derivative('input')`: SmoothDiff evaluates this dense
 * Jacobian at the mean input (an approximation).
 */
export function standardised(ctx: RuleContext, x: string, shape: Dim[], axes: number[], eps: number): { xhat: string; inputGrad: (d: string) => string } {
  const b = ctx.b;
  const at = ctx.derivative('input', shape, () => x);
  const centred = b.sub(at, b.reduce('ReduceMean', at, axes, true));
  const variance = b.reduce('ReduceMean', b.mul(centred, centred), axes, true);
  const r = b.op('Reciprocal', [b.op('Sqrt', [b.add(variance, b.scalar(eps))])]);
  const xhat = b.mul(centred, r);
  const inputGrad = (d: string) => {
    const meanD = b.reduce('ReduceMean', d, axes, true);
    const meanDX = b.reduce('ReduceMean', b.mul(d, xhat), axes, true);
    return b.mul(r, b.sub(b.sub(d, meanD), b.mul(xhat, meanDX)));
  };
  return { xhat, inputGrad };
}

function channelCount(ctx: RuleContext, shape: readonly Dim[]): number {
  const C = shape[1];
  return typeof C === 'number' ? C : ctx.fail('the channel dimension must be static');
}

/** A per-channel vector [C] shaped to broadcast against [N, C, spatial…] of rank `rank`. */
function perChannel(ctx: RuleContext, v: string, rank: number): string {
  return ctx.b.unsqueeze(
    v,
    Array.from({ length: rank - 2 }, (_, i) => i + 1),
  );
}

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
      const perChannel = b.unsqueeze(
        factor,
        Array.from({ length: rank - 2 }, (_, i) => i + 1),
      );
      ctx.give(0, b.mul(ctx.cotangent(0), perChannel));
    },
  },

  // Over the axes axis…rank−1, with x̂ = (x − μ)·r, r = 1/√(σ² + ε), d = g·scale:
  //   g_x = r · (d − mean(d) − x̂ · mean(d ⊙ x̂)),  g_scale = Σ g ⊙ x̂,  g_bias = Σ g.
  // SmoothDiff evaluates this dense Jacobian at the mean input (an approximation).
  LayerNormalization: {
    differentiable: [0, 1, 2],
    backward(ctx) {
      const b = ctx.b;
      const g = ctx.cotangent(0);
      const x = ctx.input(0);
      const shape = ctx.shape(x);
      const axis = normAxis(getInt(ctx.attrs, 'axis', -1), shape.length);
      const axes = Array.from({ length: shape.length - axis }, (_, i) => axis + i);
      const eps = getFloat(ctx.attrs, 'epsilon', 1e-5);
      const { xhat, inputGrad } = standardised(ctx, x, shape, axes, eps);
      if (ctx.needs(0)) ctx.give(0, inputGrad(b.mul(g, ctx.input(1))));
      const leading = Array.from({ length: axis }, (_, i) => i);
      if (ctx.needs(1)) ctx.give(1, b.reduceSum(b.mul(g, xhat), leading, false));
      if (ctx.input(2) && ctx.needs(2)) ctx.give(2, b.reduceSum(g, leading, false));
    },
  },

  // LayerNormalization's math over the spatial axes of each (sample, channel); scale and bias
  // per channel. Only the input is differentiated (weights never depend on it).
  InstanceNormalization: {
    differentiable: [0],
    backward(ctx) {
      const x = ctx.input(0);
      const shape = ctx.shape(x);
      const axes = Array.from({ length: shape.length - 2 }, (_, i) => i + 2);
      const { inputGrad } = standardised(ctx, x, shape, axes, getFloat(ctx.attrs, 'epsilon', 1e-5));
      ctx.give(0, inputGrad(ctx.b.mul(ctx.cotangent(0), perChannel(ctx, ctx.input(1), shape.length))));
    },
  },

  // Statistics per (sample, group of C/G channels). Scale and bias are per channel from opset 21,
  // per group at opset 18 (each group's value applies to all its channels). Computed on the view
  // [N, G, C/G, spatial] so that both forms broadcast.
  GroupNormalization: {
    differentiable: [0],
    backward(ctx) {
      const b = ctx.b;
      const x = ctx.input(0);
      const shape = ctx.shape(x);
      const C = channelCount(ctx, shape);
      const G = getInt(ctx.attrs, 'num_groups', 0);
      if (G <= 0 || C % G !== 0) ctx.fail(`num_groups ${G} must divide the ${C} channels`);
      const S = spatialDims(ctx, x).reduce((p, q) => p * q, 1);
      const view = [0, G, C / G, S];
      const scale = ctx.input(1);
      const perGroup = ctx.shape(scale)[0] === G && (ctx.opset < 21 || G !== C);
      const scaleView = b.reshape(scale, b.ints(perGroup ? [G, 1, 1] : [G, C / G, 1]));
      const xv = b.reshape(x, b.ints(view));
      const { inputGrad } = standardised(ctx, xv, [shape[0] as Dim, G, C / G, S], [2, 3], getFloat(ctx.attrs, 'epsilon', 1e-5));
      const g = b.reshape(ctx.cotangent(0), b.ints(view));
      ctx.give(0, b.reshapeLike(inputGrad(b.mul(g, scaleView)), x));
    },
  },

  // Local response normalisation across channels (AlexNet, GoogLeNet):
  //   s_c = bias + α/n · Σ_{k ∈ W(c)} x_k²,  y_c = x_c · s_c^(−β),
  //   g_x = g · s^(−β) − (2αβ/n) · x · Wᵀ(g · x · s^(−β−1)),
  // where W(c) = [c − ⌊(n−1)/2⌋, c + ⌈(n−1)/2⌉] and the window sums are 1×1 Convs with a band
  // matrix over channels (W for the forward sums, Wᵀ for the backward ones).
  LRN: {
    differentiable: [0],
    backward(ctx) {
      const b = ctx.b;
      const x = ctx.input(0);
      const shape = ctx.shape(x);
      const C = channelCount(ctx, shape);
      const n = getInt(ctx.attrs, 'size', 1);
      const alpha = getFloat(ctx.attrs, 'alpha', 1e-4);
      const beta = getFloat(ctx.attrs, 'beta', 0.75);
      const bias = getFloat(ctx.attrs, 'bias', 1);
      const [lo, hi] = [Math.floor((n - 1) / 2), Math.ceil((n - 1) / 2)];
      const band = (transpose: boolean) => {
        const w = new Float32Array(C * C);
        for (let c = 0; c < C; c++) {
          for (let k = Math.max(0, c - lo); k <= Math.min(C - 1, c + hi); k++) w[transpose ? k * C + c : c * C + k] = 1;
        }
        return b.floats(w, [C, C, ...new Array<number>(shape.length - 2).fill(1)]);
      };
      const windowSum = (t: string, transpose: boolean) => b.op('Conv', [t, band(transpose)]);
      const s = b.add(b.scalar(bias), b.mul(b.scalar(alpha / n), windowSum(b.mul(x, x), false)));
      const sPow = b.op('Pow', [s, b.scalar(-beta)]);
      const g = ctx.cotangent(0);
      const inner = windowSum(b.div(b.mul(b.mul(g, x), sPow), s), true);
      ctx.give(0, b.sub(b.mul(g, sPow), b.mul(b.scalar((2 * alpha * beta) / n), b.mul(x, inner))));
    },
  },
};
