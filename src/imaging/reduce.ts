// Channel reduction of a raw attribution: [N, C, H, W] → one H×W map per sample.
import { ImageError } from './errors.js';

export const REDUCTIONS = ['l2', 'abs-sum', 'abs-max', 'sum', 'mean'] as const;
export type Reduction = (typeof REDUCTIONS)[number];
export const SIGNS = ['abs', 'positive', 'negative', 'all'] as const;
export type Sign = (typeof SIGNS)[number];

/** Magnitude reductions are non-negative whatever the input; sum and mean keep the sign. */
export function isMagnitudeReduction(reduce: Reduction): boolean {
  return reduce === 'l2' || reduce === 'abs-sum' || reduce === 'abs-max';
}

/** A map that keeps negative values, drawn with zero at the centre of the colormap. */
export function isSignedMap(reduce: Reduction, sign: Sign): boolean {
  return sign === 'all' && !isMagnitudeReduction(reduce);
}

export interface Map2D {
  data: Float32Array;
  width: number;
  height: number;
}

export interface RawTensor {
  data: Float32Array;
  shape: readonly number[];
}

/**
 * Reduce the channels of sample `index` of `raw` ([N,C,H,W], [N,H,W,C] with layout 'NHWC',
 * [C,H,W] or [H,W]).
 *
 * `sign` for sum/mean acts on the reduced value, as Captum's visualize_image_attr does:
 * abs → |r|, positive → max(r, 0), negative → max(−r, 0) (the strength of the negative
 * evidence), all → r. For the magnitude reductions it selects which elements enter:
 * positive → only v > 0, negative → only v < 0, abs/all → every element.
 */
export function reduceChannels(raw: RawTensor, reduce: Reduction, sign: Sign, index = 0, layout: 'NCHW' | 'NHWC' = 'NCHW'): Map2D {
  const { n, c, h, w, at } = view(raw, layout);
  if (!Number.isInteger(index) || index < 0 || index >= n) {
    throw new ImageError('SALIENCY_BAD_RENDER_PARAM', `sample index ${index} is out of range; the batch has ${n} sample(s)`);
  }
  const data = new Float32Array(h * w);
  const magnitude = isMagnitudeReduction(reduce);
  for (let p = 0; p < h * w; p++) {
    let acc = 0;
    for (let k = 0; k < c; k++) {
      let v = at(index, k, p);
      if (magnitude) {
        if ((sign === 'positive' && v < 0) || (sign === 'negative' && v > 0)) v = 0;
        if (reduce === 'l2') acc += v * v;
        else if (reduce === 'abs-sum') acc += Math.abs(v);
        else acc = Math.max(acc, Math.abs(v));
      } else {
        acc += v;
      }
    }
    if (reduce === 'l2') acc = Math.sqrt(acc);
    if (reduce === 'mean') acc /= c;
    if (!magnitude) acc = applySign(acc, sign);
    data[p] = acc;
  }
  return { data, width: w, height: h };
}

function applySign(v: number, sign: Sign): number {
  if (sign === 'abs') return Math.abs(v);
  if (sign === 'positive') return Math.max(v, 0);
  if (sign === 'negative') return Math.max(-v, 0);
  return v;
}

function view(raw: RawTensor, layout: 'NCHW' | 'NHWC') {
  const s = raw.shape;
  let dims: [number, number, number, number];
  if (s.length === 4) dims = layout === 'NCHW' ? [s[0] ?? 0, s[1] ?? 0, s[2] ?? 0, s[3] ?? 0] : [s[0] ?? 0, s[3] ?? 0, s[1] ?? 0, s[2] ?? 0];
  else if (s.length === 3) dims = [1, s[0] ?? 0, s[1] ?? 0, s[2] ?? 0];
  else if (s.length === 2) dims = [1, 1, s[0] ?? 0, s[1] ?? 0];
  else throw new ImageError('SALIENCY_BAD_RENDER_PARAM', `cannot render a tensor of shape [${s.join(', ')}]; expected [N, C, H, W]`);
  const [n, c, h, w] = dims;
  if (n * c * h * w !== raw.data.length || h === 0 || w === 0 || c === 0) {
    throw new ImageError('SALIENCY_BAD_RENDER_PARAM', `tensor data (${raw.data.length} values) does not match shape [${s.join(', ')}]`);
  }
  const plane = h * w;
  const at =
    layout === 'NHWC' && s.length === 4
      ? (i: number, k: number, p: number): number => raw.data[(i * plane + p) * c + k] ?? 0
      : (i: number, k: number, p: number): number => raw.data[(i * c + k) * plane + p] ?? 0;
  return { n, c, h, w, at };
}
