// Gemm, MatMul (batched, broadcast) and Einsum.
import { attr, getFloat, getInt, getString } from '../../onnx/attributes.js';
import { type GradRule, type RuleContext } from '../rule.js';
import { bothActive, unbroadcast } from './common.js';

/** Swaps the last two axes. */
function swapLast(ctx: RuleContext, t: string, rank: number): string {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return ctx.b.transpose(t, perm);
}

/** Gemm's backward from the cotangent `g` of its (pre-activation) output. */
export function gemmBackward(ctx: RuleContext, g: string): void {
  const [a, b, c] = [ctx.input(0), ctx.input(1), ctx.input(2)];
  const alpha = getFloat(ctx.attrs, 'alpha', 1);
  const beta = getFloat(ctx.attrs, 'beta', 1);
  const transA = getInt(ctx.attrs, 'transA', 0);
  const transB = getInt(ctx.attrs, 'transB', 0);
  const gemm = (p: string, q: string, tp: number, tq: number) =>
    ctx.b.op('Gemm', [p, q], { alpha: attr.float(alpha), transA: attr.int(tp), transB: attr.int(tq) });
  if (ctx.needs(0)) ctx.give(0, transA ? gemm(b, g, transB, 1) : gemm(g, b, 0, 1 - transB));
  if (ctx.needs(1)) ctx.give(1, transB ? gemm(g, a, 1, transA) : gemm(a, g, 1 - transA, 0));
  if (c && ctx.needs(2)) {
    const scaled = beta === 1 ? g : ctx.b.mul(g, ctx.b.scalar(beta));
    ctx.give(2, unbroadcast(ctx, scaled, ctx.shape(c), ctx.shape(ctx.output(0))));
  }
}

/**
 * Y = α·A'·B' with A' = transA ? Aᵀ : A (last two axes), B' likewise, batch axes broadcast:
 * dA' = α·g·B'ᵀ and dB' = α·A'ᵀ·g, transposed back where the operand was, each summed over the
 * batch axes it was broadcast along. MatMul is α = 1 without transposes.
 */
export function matMulBackward(ctx: RuleContext, t: { transA: boolean; transB: boolean; alpha: number }): void {
  const g0 = ctx.cotangent(0);
  const g = t.alpha === 1 ? g0 : ctx.b.mul(g0, ctx.b.scalar(t.alpha));
  const [a, b] = [ctx.input(0), ctx.input(1)];
  const [shapeA, shapeB, shapeY] = [ctx.shape(a), ctx.shape(b), ctx.shape(ctx.output(0))];
  if (shapeA.length < 2 || shapeB.length < 2) ctx.fail('MatMul with a 1-D operand is not supported');
  const product = bothActive(ctx);
  const operand = (key: string, x: string) => (product ? ctx.derivative(key, ctx.shape(x), () => x) : x);
  const batch = shapeY.slice(0, -2);
  if (ctx.needs(0)) {
    const bT = t.transB ? operand('b', b) : swapLast(ctx, operand('b', b), shapeB.length);
    const dA = ctx.b.op('MatMul', [g, bT]);
    const full = t.transA ? swapLast(ctx, dA, batch.length + 2) : dA;
    ctx.give(0, unbroadcast(ctx, full, shapeA, [...batch, ...shapeA.slice(-2)]));
  }
  if (ctx.needs(1)) {
    const aT = t.transA ? operand('a', a) : swapLast(ctx, operand('a', a), shapeA.length);
    const dB = ctx.b.op('MatMul', [aT, g]);
    const full = t.transB ? swapLast(ctx, dB, batch.length + 2) : dB;
    ctx.give(1, unbroadcast(ctx, full, shapeB, [...batch, ...shapeB.slice(-2)]));
  }
}

export const linearAlgebraRules: Record<string, GradRule> = {
  // Y = α·A'B' + β·C with A' = transA ? Aᵀ : A, B' likewise.
  Gemm: {
    backward(ctx) {
      gemmBackward(ctx, ctx.cotangent(0));
    },
  },

  // dA = g·Bᵀ, dB = Aᵀ·g, each summed over the batch axes it was broadcast along.
  MatMul: {
    backward(ctx) {
      matMulBackward(ctx, { transA: false, transB: false, alpha: 1 });
    },
  },

  // For operand i: Einsum(g, other operands → term_i), then broadcast back any index that only
  // operand i had (it was summed away in the forward pass).
  Einsum: {
    backward(ctx) {
      const g = ctx.cotangent(0);
      const equation = getString(ctx.attrs, 'equation', '').replace(/\s+/g, '');
      const [lhs, out = ''] = equation.split('->');
      const terms = (lhs ?? '').split(',');
      if (equation.includes('.') || !equation.includes('->')) ctx.fail(`equation ${equation}: ellipsis and implicit output are not supported`);
      terms.forEach((term, i) => {
        if (!ctx.needs(i)) return;
        if (new Set(term).size !== term.length) ctx.fail(`equation ${equation}: repeated indices in one operand are not supported`);
        const others = terms.filter((_, k) => k !== i);
        const available = new Set([...out, ...others.join('')]);
        const kept = [...term].filter((c) => available.has(c)).join('');
        const grad = ctx.b.op('Einsum', [g, ...ctx.node.inputs.filter((_, k) => k !== i)], {
          equation: attr.string(`${[out, ...others].join(',')}->${kept}`),
        });
        const missing = [...term].map((c, axis) => (available.has(c) ? -1 : axis)).filter((axis) => axis >= 0);
        const restored = missing.length ? ctx.b.op('Expand', [ctx.b.unsqueeze(grad, missing), ctx.b.shapeOf(ctx.input(i))]) : grad;
        ctx.give(i, restored);
      });
    },
  },
};
