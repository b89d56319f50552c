// Resize (and the older Upsample): nearest and (bi)linear interpolation are linear maps that act
// on each spatial axis separately, out = A_h · x · A_wᵀ per plane, with A built here from the
// static sizes exactly as ONNX Runtime samples (coordinate transformation, rounding, clamping).
// The backward is the transposed map, g_x = A_hᵀ · g · A_w: two MatMuls with constant matrices.
import { type Attributes, getInt, getInts, getString } from '../../onnx/attributes.js';
import { type GradRule, type RuleContext } from '../rule.js';

const getFloats = (attrs: Attributes, name: string): number[] | undefined => (attrs[name] ? [...(attrs[name].floats ?? [])] : undefined);

type Transform = (outIndex: number, scale: number, inSize: number, outSize: number) => number;

/**
 * Output coordinate → input coordinate (ONNX Resize's coordinate_transformation_mode), rounded
 * to float32 at each step as ONNX Runtime computes it, so ties in nearest rounding fall the same way.
 */
const f = Math.fround;
const TRANSFORMS: Record<string, Transform> = {
  half_pixel: (o, s) => f(f(f(o + 0.5) / f(s)) - 0.5),
  pytorch_half_pixel: (o, s, _in, out) => (out > 1 ? f(f(f(o + 0.5) / f(s)) - 0.5) : 0),
  align_corners: (o, _s, inSize, outSize) => (outSize === 1 ? 0 : f(f(o * (inSize - 1)) / (outSize - 1))),
  asymmetric: (o, s) => f(o / f(s)),
  tf_half_pixel_for_nn: (o, s) => f(f(o + 0.5) / f(s)),
};

/** Input coordinate → nearest input index (nearest_mode); `down` when the axis shrinks. */
const ROUNDING: Record<string, (v: number, down: boolean) => number> = {
  round_prefer_floor: (v) => (v === Math.floor(v) + 0.5 ? Math.floor(v) : Math.round(v)),
  round_prefer_ceil: (v) => Math.round(v),
  floor: (v) => Math.floor(v),
  ceil: (v) => Math.ceil(v),
  // Upsample's and Resize-10's rounding in ONNX Runtime: truncate, or ceil when downsampling.
  simple: (v, down) => (down ? Math.ceil(v) : Math.trunc(v)),
};

interface Sampling {
  mode: 'nearest' | 'linear';
  transform: Transform;
  rounding: (v: number, down: boolean) => number;
}

/** A [outSize, inSize] row-major interpolation matrix for one axis. */
export function interpolationMatrix(s: Sampling, inSize: number, outSize: number, scale: number): Float32Array {
  const A = new Float32Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    const v = s.transform(o, scale, inSize, outSize);
    if (s.mode === 'nearest') {
      const i = Math.min(Math.max(s.rounding(v, scale < 1), 0), inSize - 1);
      A[o * inSize + i] = 1;
      continue;
    }
    const c = Math.min(Math.max(v, 0), inSize - 1);
    const i0 = Math.floor(c);
    const i1 = Math.min(i0 + 1, inSize - 1);
    const w1 = c - i0;
    A[o * inSize + i0] = (A[o * inSize + i0] as number) + (1 - w1);
    A[o * inSize + i1] = (A[o * inSize + i1] as number) + w1;
  }
  return A;
}

function samplingOf(ctx: RuleContext, legacy: boolean): Sampling {
  const mode = getString(ctx.attrs, 'mode', 'nearest');
  if (mode !== 'nearest' && mode !== 'linear') ctx.fail(`mode ${mode} is not supported (nearest and linear are)`);
  const transformName = legacy ? 'asymmetric' : getString(ctx.attrs, 'coordinate_transformation_mode', 'half_pixel');
  const transform = TRANSFORMS[transformName] ?? ctx.fail(`coordinate_transformation_mode ${transformName} is not supported`);
  const roundingName = legacy ? 'simple' : getString(ctx.attrs, 'nearest_mode', 'round_prefer_floor');
  const rounding = ROUNDING[roundingName] ?? ctx.fail(`nearest_mode ${roundingName} is not supported`);
  if (getInt(ctx.attrs, 'antialias', 0) !== 0) ctx.fail('antialias is not supported');
  const policy = getString(ctx.attrs, 'keep_aspect_ratio_policy', 'stretch');
  if (policy !== 'stretch') ctx.fail(`keep_aspect_ratio_policy ${policy} is not supported`);
  return { mode, transform, rounding };
}

/** Per-axis scales of the op: from `scales` when given, else output/input sizes. */
function scalesOf(ctx: RuleContext, scalesInput: string, rank: number, inSizes: number[], outSizes: number[]): number[] {
  const given = scalesInput ? ctx.constant(scalesInput) : getFloats(ctx.attrs, 'scales');
  const scales = outSizes.map((o, i) => o / (inSizes[i] as number));
  if (given && given.length > 0) {
    const axes = getInts(ctx.attrs, 'axes')?.map((a) => (a < 0 ? a + rank : a)) ?? given.map((_, i) => i);
    axes.forEach((a, k) => (scales[a] = given[k] as number));
  } else if (scalesInput && !given) {
    ctx.fail('the scales input must be a compile-time constant');
  }
  return scales;
}

function resizeRule(legacy: (ctx: RuleContext) => boolean, scalesIndex: (ctx: RuleContext) => number): GradRule {
  return {
    differentiable: [0],
    backward(ctx) {
      const b = ctx.b;
      const x = ctx.input(0);
      const inShape = ctx.shape(x);
      const outShape = ctx.shape(ctx.output(0));
      const rank = inShape.length;
      const inSizes = inShape.map((d) => (typeof d === 'number' ? d : 1));
      const outSizes = outShape.map((d) => (typeof d === 'number' ? d : 1));
      const resized = outShape.map((d, i) => i).filter((i) => outShape[i] !== inShape[i]);
      if (resized.some((i) => i < rank - 2)) ctx.fail('only the last two axes may be resized');
      const sampling = samplingOf(ctx, legacy(ctx));
      const scales = scalesOf(ctx, ctx.input(scalesIndex(ctx)), rank, inSizes, outSizes);
      let g = ctx.cotangent(0);
      // Axis rank−2 (rows): A_hᵀ [H, OH] · g.  Axis rank−1 (columns): g · A_w [OW, W].
      const rowsFirst = rank >= 2 && (resized.includes(rank - 2) || (scales[rank - 2] ?? 1) !== 1);
      if (rowsFirst) {
        const [H, OH] = [inSizes[rank - 2] as number, outSizes[rank - 2] as number];
        const A = interpolationMatrix(sampling, H, OH, scales[rank - 2] as number);
        g = b.op('MatMul', [b.floats(transposed(A, OH, H), [H, OH]), g]);
      }
      if (resized.includes(rank - 1) || (scales[rank - 1] ?? 1) !== 1) {
        const [W, OW] = [inSizes[rank - 1] as number, outSizes[rank - 1] as number];
        g = b.op('MatMul', [g, b.floats(interpolationMatrix(sampling, W, OW, scales[rank - 1] as number), [OW, W])]);
      }
      ctx.give(0, g);
    },
  };
}

function transposed(A: Float32Array, rows: number, cols: number): Float32Array {
  const T = new Float32Array(A.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) T[c * rows + r] = A[r * cols + c] as number;
  return T;
}

export const resizeRules: Record<string, GradRule> = {
  // Inputs X, roi, scales, sizes from opset 11; X, scales at opset 10 (asymmetric, like Upsample).
  Resize: resizeRule(
    (ctx) => ctx.opset < 11,
    (ctx) => (ctx.opset < 11 ? 1 : 2),
  ),
  // Upsample (opsets 7–9): scales as an attribute (7) or the second input (9).
  Upsample: {
    differentiable: [0],
    backward(ctx) {
      resizeRule(
        () => true,
        () => 1,
      ).backward(ctx);
    },
  },
};
