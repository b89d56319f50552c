// Integrated Gradients baselines x₀, per image, in model-input space.
import { type ModelContext } from './context.js';
import { type BaselineName } from './params.js';
import { Rng } from './rng.js';
import { type Tensor } from './runner.js';

export class BaselineError extends Error {
  override name = 'BaselineError';
}

function range(data: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of data) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** Separable Gaussian blur of each channel plane (reflect at the borders). */
export function gaussianBlur(plane: Float32Array, height: number, width: number, sigma: number): Float32Array {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const kernel = Float32Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const total = kernel.reduce((a, b) => a + b, 0);
  kernel.forEach((v, i) => (kernel[i] = v / total));
  const reflect = (i: number, n: number) => {
    let k = i;
    while (k < 0 || k >= n) k = k < 0 ? -k - 1 : 2 * n - k - 1;
    return k;
  };
  const pass = (src: Float32Array, horizontal: boolean) => {
    const out = new Float32Array(src.length);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let acc = 0;
        for (let k = -radius; k <= radius; k++) {
          const yy = horizontal ? y : reflect(y + k, height);
          const xx = horizontal ? reflect(x + k, width) : x;
          acc += (kernel[k + radius] as number) * (src[yy * width + xx] as number);
        }
        out[y * width + x] = acc;
      }
    }
    return out;
  };
  return pass(pass(plane, true), false);
}

/**
 * Baseline for a batch x [B, C, …]: zeros; black/white (the manifest's pixel values, else the
 * image's minimum/maximum); blur (Gaussian, σ = 5% of the larger side); uniform noise over the
 * image's range; per-channel mean; or an uploaded tensor of one sample's or the batch's shape.
 */
export function makeBaseline(ctx: ModelContext, x: Tensor, baseline: BaselineName | Tensor, seed: number, repeated = false): Float32Array {
  const [batch = 1, channels = 1, ...spatial] = x.dims;
  const perSample = x.data.length / batch;
  const plane = perSample / channels;
  const out = new Float32Array(x.data.length);
  if (repeated && batch > 1) {
    // One image repeated per target: every copy gets image 0's baseline, the one-target job's.
    const first = makeBaseline(ctx, { data: x.data.subarray(0, perSample), dims: [1, ...x.dims.slice(1)] }, baseline, seed);
    for (let b = 0; b < batch; b++) out.set(first, b * perSample);
    return out;
  }
  if (typeof baseline !== 'string') {
    if (baseline.data.length === perSample) for (let b = 0; b < batch; b++) out.set(baseline.data, b * perSample);
    else if (baseline.data.length === x.data.length) out.set(baseline.data);
    else
      throw new BaselineError(
        `the baseline has ${baseline.data.length} values; it must have the shape of one input sample [${x.dims.slice(1).join(',')}] or of the batch`,
      );
    return out;
  }
  const rng = new Rng(seed ^ 0x5bd1e995);
  for (let b = 0; b < batch; b++) {
    const image = x.data.subarray(b * perSample, (b + 1) * perSample);
    const target = out.subarray(b * perSample, (b + 1) * perSample);
    const [lo, hi] = range(image);
    for (let c = 0; c < channels; c++) {
      const src = image.subarray(c * plane, (c + 1) * plane);
      const dst = target.subarray(c * plane, (c + 1) * plane);
      switch (baseline) {
        case 'zeros':
          break;
        case 'black':
          dst.fill(ctx.pixelRange?.black[c] ?? lo);
          break;
        case 'white':
          dst.fill(ctx.pixelRange?.white[c] ?? hi);
          break;
        case 'mean':
          dst.fill(src.reduce((a, v) => a + v, 0) / plane);
          break;
        case 'uniform':
          for (let i = 0; i < plane; i++) dst[i] = lo + (hi - lo) * rng.uniform();
          break;
        case 'blur': {
          if (spatial.length !== 2) throw new BaselineError('the blur baseline needs a C×H×W input');
          const [h, w] = spatial as [number, number];
          dst.set(gaussianBlur(src, h, w, 0.05 * Math.max(h, w)));
          break;
        }
      }
    }
  }
  return out;
}

export { range as valueRange };
