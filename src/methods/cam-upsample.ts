// The Grad-CAM upsamplings of the parity presets (presets.ts), one h×w plane to H×W. The
// service's own bilinear (PyTorch align_corners=False) is resizeBilinear in grad-cam.ts.
import { type CamUpsample } from './presets.js';

/** PyTorch `F.interpolate(mode='nearest')`: source index ⌊o · in/out⌋ (×2 exactly: o >> 1). */
function nearestIndex(o: number, inSize: number, outSize: number): number {
  if (outSize === 2 * inSize) return o >> 1;
  return Math.min(Math.floor(o * Math.fround(inSize / outSize)), inSize - 1);
}

export function resizeNearest(src: Float32Array, h: number, w: number, H: number, W: number): Float32Array {
  const out = new Float32Array(H * W);
  for (let y = 0; y < H; y++) {
    const sy = nearestIndex(y, h, H);
    for (let x = 0; x < W; x++) out[y * W + x] = src[sy * w + nearestIndex(x, w, W)] as number;
  }
  return out;
}

/** scipy.ndimage 'mirror' extension: reflect about the edge samples' centres (…2 1 | 0 1 2 … n−1 | n−2 …). */
function mirror(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  const k = ((Math.abs(i) % period) + period) % period;
  return k >= n ? period - k : k;
}

/**
 * skimage.transform.resize(order=1), upsampling: scipy.ndimage.zoom with grid_mode=True (source
 * coordinate (o + ½)·in/out − ½) and skimage's 'reflect' mode, which is ndimage's 'mirror'.
 */
export function resizeBilinearMirror(src: Float32Array, h: number, w: number, H: number, W: number): Float32Array {
  const out = new Float32Array(H * W);
  const taps = (o: number, inSize: number, outSize: number) => {
    const c = ((o + 0.5) * inSize) / outSize - 0.5;
    const i0 = Math.floor(c);
    return [mirror(i0, inSize), mirror(i0 + 1, inSize), c - i0] as const;
  };
  for (let y = 0; y < H; y++) {
    const [y0, y1, fy] = taps(y, h, H);
    for (let x = 0; x < W; x++) {
      const [x0, x1, fx] = taps(x, w, W);
      const top = (src[y0 * w + x0] as number) * (1 - fx) + (src[y0 * w + x1] as number) * fx;
      const bottom = (src[y1 * w + x0] as number) * (1 - fx) + (src[y1 * w + x1] as number) * fx;
      out[y * W + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

/** Keys' cubic convolution kernel with a = −0.5. */
function keys(t: number): number {
  const a = -0.5;
  const x = Math.abs(t);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

/** TensorFlow's kernel table resolution: the fractional offset is rounded to 1/1024. */
const TABLE = 1024;

/** C's lrint in the default rounding mode: to the nearest integer, halves to the even one. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The four taps and weights of one output coordinate, as TensorFlow's resize_bicubic computes them (in float32). */
function cubicTaps(o: number, inSize: number, outSize: number): { index: number[]; weight: number[] } {
  const c = Math.fround(Math.fround((o + 0.5) * Math.fround(inSize / outSize)) - 0.5);
  const base = Math.floor(c);
  const offset = roundHalfEven((c - base) * TABLE) / TABLE;
  const distances = [1 + offset, offset, 1 - offset, 2 - offset];
  const index: number[] = [];
  const weight: number[] = [];
  distances.forEach((d, k) => {
    const i = base - 1 + k;
    index.push(Math.min(Math.max(i, 0), inSize - 1));
    // Taps outside the map are dropped and the remaining weights renormalised.
    weight.push(i >= 0 && i < inSize ? keys(d) : 0);
  });
  const total = weight.reduce((a, b) => a + b, 0);
  return { index, weight: total !== 0 ? weight.map((v) => v / total) : weight };
}

/** `tf.image.resize(method='bicubic')` without antialiasing: resize_bicubic with half-pixel centres. */
export function resizeBicubic(src: Float32Array, h: number, w: number, H: number, W: number): Float32Array {
  const rows = Array.from({ length: H }, (_, y) => cubicTaps(y, h, H));
  const cols = Array.from({ length: W }, (_, x) => cubicTaps(x, w, W));
  const out = new Float32Array(H * W);
  for (let y = 0; y < H; y++) {
    const r = rows[y] as { index: number[]; weight: number[] };
    for (let x = 0; x < W; x++) {
      const c = cols[x] as { index: number[]; weight: number[] };
      let v = 0;
      for (let i = 0; i < 4; i++) {
        let row = 0;
        for (let j = 0; j < 4; j++) row += (c.weight[j] as number) * (src[(r.index[i] as number) * w + (c.index[j] as number)] as number);
        v += (r.weight[i] as number) * row;
      }
      out[y * W + x] = v;
    }
  }
  return out;
}

export function upsampleCam(mode: Exclude<CamUpsample, 'bilinear'>, src: Float32Array, h: number, w: number, H: number, W: number): Float32Array {
  if (mode === 'nearest') return resizeNearest(src, h, w, H, W);
  if (mode === 'bilinear-mirror') return resizeBilinearMirror(src, h, w, H, W);
  return resizeBicubic(src, h, w, H, W);
}
