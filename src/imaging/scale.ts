// Percentile clipping and scaling of a 2-D map to [0, 1] (unsigned) or [−1, 1] (signed).
import { type Map2D } from './reduce.js';

export interface ScaledMap extends Map2D {
  /** The clipped map divided by `scale`, clamped to [0, 1] or [−1, 1]. */
  data: Float32Array;
  /** Values (|values| when signed) above this were saturated: the `clip` percentile. */
  clipValue: number;
  /** The divisor used: the clip value for scale 'image', else the fixed number. Reported to clients. */
  scale: number;
}

/**
 * numpy.percentile with its default 'linear' method (PAIR-code saliency clips this way), NaNs
 * ignored. p in [0, 100].
 */
export function percentile(values: ArrayLike<number>, p: number): number {
  const sorted = Float64Array.from(values).filter((v) => !Number.isNaN(v)).sort();
  if (sorted.length === 0) return 0;
  const pos = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  const a = sorted[lo] ?? 0;
  const b = sorted[hi] ?? 0;
  return a + (b - a) * (pos - lo);
}

/**
 * Clip at the `clip` percentile (of |v| when `signed`, so both tails saturate symmetrically) and
 * divide by `scale` ('image': the clip value, the per-image maximum after clipping). Zero stays
 * zero: we never subtract the minimum, since a saliency of 0 means "no evidence".
 */
export function clipAndScale(map: Map2D, clip: number, scale: 'image' | number, signed: boolean): ScaledMap {
  const magnitudes = signed ? map.data.map(Math.abs) : map.data;
  const clipValue = percentile(magnitudes, clip);
  const divisor = scale === 'image' ? clipValue : scale;
  const lower = signed ? -1 : 0;
  const data = new Float32Array(map.data.length);
  for (let i = 0; i < data.length; i++) {
    const v = Math.min(Math.max(map.data[i] ?? 0, -clipValue), clipValue);
    // An all-zero map has divisor 0: it stays all zero instead of turning into NaN.
    data[i] = divisor > 0 ? Math.min(Math.max(v / divisor, lower), 1) : 0;
  }
  return { data, width: map.width, height: map.height, clipValue, scale: divisor };
}

/** Colormap coordinate in [0, 1]: zero sits at 0.5 for signed maps and for diverging colormaps. */
export function toUnit(v: number, centred: boolean): number {
  return centred ? (v + 1) / 2 : v;
}
