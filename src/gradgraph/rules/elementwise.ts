// Arithmetic with numpy broadcasting, and the ops that pass gradients through unchanged.
import { type GradRule } from '../rule.js';
import { bothActive, floatMask, giveUnbroadcast } from './common.js';

const passThrough: GradRule = {
  differentiable: [0],
  backward(ctx) {
    const g = ctx.gradOut(0);
    if (g) ctx.give(0, g);
  },
};

/**
 * Variadic Max/Min with broadcasting: the operands that equal the result share its cotangent
 * evenly. For two operands that is PyTorch's maximum/minimum backward (half each on a tie); for
 * more, the same rule applied to all the tied operands at once.
 */
const extremum: GradRule = {
  backward(ctx) {
    const b = ctx.b;
    const g = ctx.cotangent(0);
    const y = ctx.output(0);
    const inputs = ctx.node.inputs;
    if (inputs.length === 1) return ctx.give(0, g);
    const hits = inputs.map((t) => floatMask(ctx, b.op('Equal', [t, y])));
    const ties = b.sum(hits);
    inputs.forEach((_, i) => {
      if (!ctx.needs(i)) return;
      const share = ctx.derivative(`share_${i}`, ctx.shape(y), () => b.div(hits[i] as string, ties));
      giveUnbroadcast(ctx, i, b.mul(g, share));
    });
  },
};

export const elementwiseRules: Record<string, GradRule> = {
  Identity: passThrough,
  // Inference-mode Dropout is the identity; its optional mask output is not differentiable.
  Dropout: passThrough,
  // Float-to-float casts only: casts to integer types are cut by the compiler's forward walk.
  Cast: passThrough,

  Add: {
    backward(ctx) {
      const g = ctx.cotangent(0);
      for (const i of [0, 1]) if (ctx.needs(i)) giveUnbroadcast(ctx, i, g);
    },
  },

  Sum: {
    backward(ctx) {
      const g = ctx.cotangent(0);
      ctx.node.inputs.forEach((_, i) => ctx.needs(i) && giveUnbroadcast(ctx, i, g));
    },
  },

  // Variadic mean with broadcasting: each operand gets g/n.
  Mean: {
    backward(ctx) {
      const g = ctx.cotangent(0);
      const share = ctx.b.mul(g, ctx.b.scalar(1 / ctx.node.inputs.length));
      ctx.node.inputs.forEach((_, i) => ctx.needs(i) && giveUnbroadcast(ctx, i, share));
    },
  },

  Max: extremum,
  Min: extremum,

  Sub: {
    backward(ctx) {
      const g = ctx.cotangent(0);
      if (ctx.needs(0)) giveUnbroadcast(ctx, 0, g);
      if (ctx.needs(1)) giveUnbroadcast(ctx, 1, ctx.b.neg(g));
    },
  },

  // d(a·b) = b·da + a·db. With two activations (attention, gating), each operand's local
  // Jacobian is the other operand: a derivative that SmoothDiff may replace by its mean.
  Mul: {
    backward(ctx) {
      const g = ctx.cotangent(0);
      const [a, b] = [ctx.input(0), ctx.input(1)];
      const product = bothActive(ctx);
      const other = (key: string, t: string) => (product ? ctx.derivative(key, ctx.shape(t), () => t) : t);
      if (ctx.needs(0)) giveUnbroadcast(ctx, 0, ctx.b.mul(g, other('b', b)));
      if (ctx.needs(1)) giveUnbroadcast(ctx, 1, ctx.b.mul(g, other('a', a)));
    },
  },

  // d(a/b) = da/b − a·db/b².
  Div: {
    backward(ctx) {
      const g = ctx.cotangent(0);
      const b = ctx.input(1);
      const product = bothActive(ctx);
      if (ctx.needs(0)) {
        const inv = () => ctx.b.op('Reciprocal', [b]);
        giveUnbroadcast(ctx, 0, ctx.b.mul(g, product ? ctx.derivative('inv_b', ctx.shape(b), inv) : inv()));
      }
      if (ctx.needs(1)) {
        const shape = ctx.shape(ctx.output(0));
        const local = () => ctx.b.neg(ctx.b.div(ctx.output(0), b)); // −a/b² = −y/b
        giveUnbroadcast(ctx, 1, ctx.b.mul(g, product ? ctx.derivative('neg_a_over_b2', shape, local) : local()));
      }
    },
  },

  // d(aᵖ) = p·aᵖ⁻¹ da;  d(aᵇ)/db = aᵇ·ln a.
  Pow: {
    backward(ctx) {
      const g = ctx.cotangent(0);
      const [a, p] = [ctx.input(0), ctx.input(1)];
      const b = ctx.b;
      if (ctx.needs(0)) {
        const local = () => b.mul(p, b.op('Pow', [a, b.sub(p, b.scalar(1))]));
        giveUnbroadcast(ctx, 0, b.mul(g, ctx.derivative('dpow', ctx.shape(ctx.output(0)), local)));
      }
      if (ctx.needs(1)) giveUnbroadcast(ctx, 1, b.mul(g, b.mul(ctx.output(0), b.op('Log', [a]))));
    },
  },

  Neg: {
    backward(ctx) {
      ctx.give(0, ctx.b.neg(ctx.cotangent(0)));
    },
  },

  // Where(cond, a, b): the condition is boolean and never differentiable.
  Where: {
    differentiable: [1, 2],
    backward(ctx) {
      const g = ctx.cotangent(0);
      const cond = ctx.input(0);
      const zero = ctx.b.scalar(0);
      if (ctx.needs(1)) giveUnbroadcast(ctx, 1, ctx.b.op('Where', [cond, g, zero]));
      if (ctx.needs(2)) giveUnbroadcast(ctx, 2, ctx.b.op('Where', [cond, zero, g]));
    },
  },
};
