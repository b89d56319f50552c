// Integration rules for Integrated Gradients: points α_k in [0, 1] and weights w_k with
// ∫₀¹ f(α) dα ≈ Σ w_k f(α_k). Definitions follow Captum's approximation_methods, except
// 'riemann-trapezoid': the trapezoid rule on n points from 0 to 1 (interior weights 1/(n−1), as
// Xplique's IntegratedGradients averages), where Captum weights its n points 1/n with halved ends.
// 'uniform-inclusive' is PAIR saliency's grid: n points from 0 to 1 inclusive, each weighted 1/n.
export const IG_RULES = ['gauss-legendre', 'riemann-left', 'riemann-right', 'riemann-middle', 'riemann-trapezoid', 'uniform-inclusive'] as const;
export type IgRule = (typeof IG_RULES)[number];

export interface Quadrature {
  alphas: Float32Array;
  weights: Float32Array;
}

export function quadrature(rule: IgRule, steps: number): Quadrature {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  const n = steps;
  const uniform = (alpha: (k: number) => number) => ({
    alphas: Float32Array.from({ length: n }, (_, k) => alpha(k)),
    weights: new Float32Array(n).fill(1 / n),
  });
  switch (rule) {
    case 'riemann-left':
      return uniform((k) => k / n);
    case 'riemann-right':
      return uniform((k) => (k + 1) / n);
    case 'riemann-middle':
      return uniform((k) => (k + 0.5) / n);
    case 'riemann-trapezoid': {
      if (n < 2) throw new RangeError('riemann-trapezoid needs at least 2 steps');
      const alphas = Float32Array.from({ length: n }, (_, k) => k / (n - 1));
      const weights = Float32Array.from({ length: n }, (_, k) => (k === 0 || k === n - 1 ? 0.5 : 1) / (n - 1));
      return { alphas, weights };
    }
    case 'uniform-inclusive':
      return uniform((k) => (n === 1 ? 1 : k / (n - 1)));
    case 'gauss-legendre': {
      const { nodes, weights } = gaussLegendre(n);
      // Map from [−1, 1] to [0, 1].
      return { alphas: Float32Array.from(nodes, (x) => (x + 1) / 2), weights: Float32Array.from(weights, (w) => w / 2) };
    }
  }
}

/** Gauss–Legendre nodes (ascending) and weights on [−1, 1], by Newton's method on P_n. */
export function gaussLegendre(n: number): { nodes: number[]; weights: number[] } {
  const nodes = new Array<number>(n);
  const weights = new Array<number>(n);
  for (let i = 0; i < Math.ceil(n / 2); i++) {
    let x = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    let derivative = 0;
    for (let iter = 0; iter < 100; iter++) {
      // Recurrence: (k+1)P_{k+1} = (2k+1)x P_k − k P_{k−1}.
      let p0 = 1;
      let p1 = x;
      for (let k = 1; k < n; k++) [p0, p1] = [p1, ((2 * k + 1) * x * p1 - k * p0) / (k + 1)];
      if (n === 1) [p0, p1] = [1, x];
      derivative = (n * (x * p1 - p0)) / (x * x - 1);
      const dx = p1 / derivative;
      x -= dx;
      if (Math.abs(dx) < 1e-15) break;
    }
    const w = 2 / ((1 - x * x) * derivative * derivative);
    nodes[i] = -x;
    nodes[n - 1 - i] = x;
    weights[i] = w;
    weights[n - 1 - i] = w;
  }
  return { nodes, weights };
}
