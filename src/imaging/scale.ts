// Percentile clipping and scaling of a 2-D map to [0, 1] (unsigned) or [−1, 1] (signed).
import { type Map2D } from './reduce.js';

export interface ScaledMap extends Map2D {
  /** (v − offset) / scale, clamped to [0, 1] or [−1, 1]. */
  data: Float32Array;
  /** Values (|values| when signed) above this were saturated: the `clip` percentile. */
  clipValue: number;
  /** The divisor used: the clip value for scale 'image', else the fixed number. Reported to clients. */
  scale: number;
  /** What is subtracted before dividing: 0 for the service's and Captum's scaling, the minimum or −span for PAIR's and Xplique's. */
  offset: number;
}

/**
 * numpy.percentile with its default 'linear' method (PAIR-code saliency clips this way), NaNs
 * ignored. p in [0, 100].
 */
export function percentile(values: ArrayLike<number>, p: number): number {
  const sorted = Float64Array.from(values)
    .filter((v) => !Number.isNaN(v))
    .sort();
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
export function clipAndScale(map: Map2D, clip: number, scale: 'image' | number, signed: boolean, scaling: Scaling = 'service'): ScaledMap {
  if (scaling !== 'service') return libraryScale(map, clip, scale, signed, scaling);
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
  return { data, width: map.width, height: map.height, clipValue, scale: divisor, offset: 0 };
}

/** Colormap coordinate in [0, 1]: zero sits at 0.5 for signed maps and for diverging colormaps. */
export function toUnit(v: number, centred: boolean): number {
  return centred ? (v + 1) / 2 : v;
}

/**
 * How a map is scaled: the service's own (above), or the way a library's visualiser does it
 * (the parity presets' rendering defaults, docs/methods.md):
 * - 'captum': visualize_image_attr — divide by the value where the cumulative sum of the sorted
 *   |values| reaches `clip` % of the total (outlier_perc = 100 − clip), clamp to [0, 1] or [−1, 1].
 * - 'pair': VisualizeImageGrayscale — (v − min) / (p_clip − min), clamped to [0, 1]; signed maps
 *   VisualizeImageDiverging — (v + s) / 2s with s = |p_clip| of the signed values, clamped to
 *   [−1, 1], as the library computes it: zero lands at 0.5, and only v below −3s saturates low.
 * - 'xplique': plot_attributions — clamp to [p_(100−clip), p_clip], then min-max to [0, 1].
 */
export const SCALINGS = ['service', 'captum', 'pair', 'xplique'] as const;
export type Scaling = (typeof SCALINGS)[number];

/** The scaling a result is drawn with by default: its parity preset's visualiser (presets share the libraries' names), else the service's. */
export function presetScaling(preset: unknown): Scaling {
  return SCALINGS.find((s) => s !== 'service' && s === preset) ?? 'service';
}

/** Whether a map under this scaling keeps its sign ([−1, 1], zero at the colormap's centre). */
export function keepsSign(signedMap: boolean, scaling: Scaling): boolean {
  return signedMap && scaling !== 'xplique';
}

/** Captum's _cumulative_sum_threshold: the first sorted value whose running sum reaches p % of the total. */
export function cumulativeThreshold(values: ArrayLike<number>, p: number): number {
  const sorted = Float64Array.from(values).sort();
  let total = 0;
  for (const v of sorted) total += v;
  let running = 0;
  for (const v of sorted) {
    running += v;
    if (running >= total * 0.01 * p) return v;
  }
  return sorted[sorted.length - 1] ?? 0;
}

function libraryScale(map: Map2D, clip: number, scale: 'image' | number, signed: boolean, scaling: Exclude<Scaling, 'service'>): ScaledMap {
  const n = map.data.length;
  const data = new Float32Array(n);
  const at = (i: number) => map.data[i] ?? 0;
  /** data = (v − offset) / divisor clamped to [lower, 1]; a zero divisor leaves the map zero instead of NaN. */
  const affine = (clipValue: number, offset: number, divisor: number, lower: number, value: (i: number) => number = at): ScaledMap => {
    for (let i = 0; i < n; i++) data[i] = divisor > 0 ? Math.min(Math.max((value(i) - offset) / divisor, lower), 1) : 0;
    return { data, width: map.width, height: map.height, clipValue, scale: divisor, offset };
  };
  if (scaling === 'captum') {
    const threshold = cumulativeThreshold(signed ? map.data.map(Math.abs) : map.data, clip);
    return affine(threshold, 0, scale === 'image' ? threshold : scale, signed ? -1 : 0);
  }
  if (scaling === 'pair' && signed) {
    const span = Math.abs(percentile(map.data, clip));
    const s = scale === 'image' ? span : scale;
    return affine(span, -s, 2 * s, -1);
  }
  if (scaling === 'pair') {
    let min = Infinity;
    for (let i = 0; i < n; i++) min = Math.min(min, at(i));
    const top = percentile(map.data, clip);
    return affine(top, min, top - min, 0);
  }
  const lo = percentile(map.data, 100 - clip);
  const hi = percentile(map.data, clip);
  const clipped = (i: number) => Math.min(Math.max(at(i), lo), hi);
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    min = Math.min(min, clipped(i));
    max = Math.max(max, clipped(i));
  }
  return affine(hi, min, max - min, 0, clipped);
}
