// How the model's H×W view maps onto the uploaded image, so a map computed at model resolution
// can be drawn on the original. Model pixel (x, y) samples resized pixel (x + offsetX, y + offsetY);
// resized pixel centres map to original ones by the per-axis scale (pixel-centre convention).
import { type PreprocessSpec } from './preprocess-spec.js';

export interface Geometry {
  original: { width: number; height: number };
  /** The image after scaling, before crop or pad. */
  resized: { width: number; height: number };
  model: { width: number; height: number };
  /** Where the model's (0, 0) sits in the resized image; negative = padding before the image. */
  offsetX: number;
  offsetY: number;
}

export function computeGeometry(width: number, height: number, spec: PreprocessSpec): Geometry {
  const [mh, mw] = spec.size;
  const original = { width, height };
  const model = { width: mw, height: mh };
  if (spec.resize.mode === 'resize') return { original, resized: { ...model }, model, offsetX: 0, offsetY: 0 };

  let rw: number;
  let rh: number;
  if (spec.resize.mode === 'resize-crop' && spec.resize.shorter !== undefined) {
    // torchvision Resize(int): the shorter side becomes `shorter`, the longer is truncated.
    const s = spec.resize.shorter;
    if (width <= height) [rw, rh] = [s, Math.trunc((s * height) / width)];
    else [rw, rh] = [Math.trunc((s * width) / height), s];
  } else {
    // Cover (resize-crop without `shorter`) or fit inside (pad), keeping the aspect ratio.
    const scale = spec.resize.mode === 'pad' ? Math.min(mw / width, mh / height) : Math.max(mw / width, mh / height);
    rw = clampSize(Math.round(width * scale), spec.resize.mode === 'pad' ? mw : Infinity);
    rh = clampSize(Math.round(height * scale), spec.resize.mode === 'pad' ? mh : Infinity);
  }
  // torchvision CenterCrop: top = int(round((h − crop_h) / 2.0)) with Python's half-to-even
  // round; negative when the crop is larger (CenterCrop then zero-pads, as 'pad' mode does).
  const offsetX = roundHalfEven((rw - mw) / 2);
  const offsetY = roundHalfEven((rh - mh) / 2);
  return { original, resized: { width: rw, height: rh }, model, offsetX, offsetY };
}

/** Python 3's round(): halves go to the even neighbour (round(58.5) = 58), unlike Math.round. */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function clampSize(v: number, max: number): number {
  return Math.min(Math.max(1, v), max);
}

/**
 * Bilinear resampling of a model-resolution map onto the original image. Original pixels the
 * model never saw (cropped away) become NaN, so renderers can leave them uncoloured.
 */
export function projectToOriginal(values: Float32Array, geometry: Geometry): Float32Array {
  const { model, resized, original } = geometry;
  const sx = resized.width / original.width;
  const sy = resized.height / original.height;
  const out = new Float32Array(original.width * original.height);
  for (let y = 0; y < original.height; y++) {
    // Pixel-centre mapping: original centre → resized coordinate → model coordinate.
    const v = (y + 0.5) * sy - geometry.offsetY - 0.5;
    const yCovered = v >= -0.5 && v <= model.height - 0.5;
    for (let x = 0; x < original.width; x++) {
      const u = (x + 0.5) * sx - geometry.offsetX - 0.5;
      const covered = yCovered && u >= -0.5 && u <= model.width - 0.5;
      out[y * original.width + x] = covered ? bilinear(values, model.width, model.height, u, v) : NaN;
    }
  }
  return out;
}

/** Bilinear sample at (u, v) in pixel-centre coordinates, clamping to the edge. */
export function bilinear(values: Float32Array, width: number, height: number, u: number, v: number): number {
  const cu = Math.min(Math.max(u, 0), width - 1);
  const cv = Math.min(Math.max(v, 0), height - 1);
  const x0 = Math.floor(cu);
  const y0 = Math.floor(cv);
  const x1 = Math.min(x0 + 1, width - 1);
  const y1 = Math.min(y0 + 1, height - 1);
  const fx = cu - x0;
  const fy = cv - y0;
  const at = (x: number, y: number): number => values[y * width + x] ?? NaN;
  const top = at(x0, y0) * (1 - fx) + at(x1, y0) * fx;
  const bottom = at(x0, y1) * (1 - fx) + at(x1, y1) * fx;
  return top * (1 - fy) + bottom * fy;
}
