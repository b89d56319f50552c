// AdaptGrad (arXiv 2410.07711): SmoothGrad whose noise scale adapts to each input element, so
// noisy copies stay (with confidence c) inside the valid input range:
//   σ_i = min(|x_i − lo|, |x_i − hi|) / (√2·erfinv(c))
// with lo/hi the model-space values of a black and a white pixel per channel (the manifest's
// range mapped through mean/std; without a manifest, the image's own min and max). The clean
// gradient counts as one of the n samples. It runs as SmoothGrad over the chosen base with an
// explicit noise block, so it goes through the same fused graph and memory budget.
import { valueRange } from './baselines.js';
import { type ModelContext, type Progress } from './context.js';
import { type FamilyResult, runGradientFamily } from './gradient-family.js';
import { imageRngs } from './noise.js';
import { type Rng } from './rng.js';
import { type ResolvedParams } from './params.js';
import { type Tensor } from './runner.js';

export interface AdaptOptions {
  /** Explicit standard normals z [B, samples − 1, …] (tests); σ_i·z is the noise. */
  normals?: Float32Array;
  progress?: Progress;
  /** Several targets of one image (gradient-family.ts). */
  repeated?: boolean;
}

/** erf to ~1e-16 relative: its Maclaurin series for |x| < 3, the continued fraction of erfc beyond. */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (a < 3) {
    let term = a;
    let sum = a;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * ((2 / Math.sqrt(Math.PI)) * sum);
  }
  // erfc(a) = exp(−a²)/√π · 1/(a + 1/2/(a + 1/(a + 3/2/(a + …)))) (Lentz-free, 60 terms).
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (a + f);
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + f);
  return Math.sign(x) * (1 - erfc);
}

/** erfinv on (−1, 1) by Newton's method on erf. */
export function erfinv(y: number): number {
  if (!(y > -1 && y < 1)) throw new RangeError(`erfinv needs −1 < y < 1, got ${y}`);
  let x = 0;
  for (let k = 0; k < 100; k++) {
    const step = (erf(x) - y) / ((2 / Math.sqrt(Math.PI)) * Math.exp(-x * x));
    x -= step;
    if (Math.abs(step) < 1e-15 * Math.max(1, Math.abs(x))) break;
  }
  return x;
}

/** σ per element of each image [B, …]. */
export function adaptiveSigma(ctx: ModelContext, x: Tensor, confidence: number): Float32Array {
  const B = x.dims[0] as number;
  const size = x.data.length / B;
  const C = (x.dims[1] as number) ?? 1;
  const plane = size / C;
  const scale = Math.SQRT2 * erfinv(confidence);
  const out = new Float32Array(x.data.length);
  for (let b = 0; b < B; b++) {
    const image = x.data.subarray(b * size, (b + 1) * size);
    const [ilo, ihi] = valueRange(image);
    for (let c = 0; c < C; c++) {
      const lo = ctx.pixelRange?.black[c] ?? ilo;
      const hi = ctx.pixelRange?.white[c] ?? ihi;
      for (let i = 0; i < plane; i++) {
        const v = image[c * plane + i] as number;
        out[b * size + c * plane + i] = Math.min(Math.abs(v - lo), Math.abs(v - hi)) / scale;
      }
    }
  }
  return out;
}

export async function runAdaptGrad(
  ctx: ModelContext,
  x: Tensor,
  classes: number,
  targets: number[],
  p: ResolvedParams,
  options: AdaptOptions = {},
): Promise<FamilyResult & { sigma: number[] }> {
  const B = x.dims[0] as number;
  const size = x.data.length / B;
  const S = p.samples;
  const noisy = S - 1;
  if (options.normals && options.normals.length !== B * noisy * size)
    throw new RangeError(`explicit normals must have shape [${B},${noisy},${ctx.sampleShape.join(',')}]`);
  const sigma = adaptiveSigma(ctx, x, p.confidence);
  // Copy 0 of each image is the clean one (ε = 0).
  const noise = new Float32Array(B * S * size);
  const rngs = imageRngs(p.seed, B, options.repeated);
  for (let b = 0; b < B; b++) {
    const z = options.normals
      ? options.normals.subarray(b * noisy * size, (b + 1) * noisy * size)
      : (rngs[b] as Rng).fillNormal(new Float32Array(noisy * size), 1);
    const s = sigma.subarray(b * size, (b + 1) * size);
    for (let k = 0; k < noisy; k++) {
      const at = (b * S + 1 + k) * size;
      for (let i = 0; i < size; i++) noise[at + i] = (z[k * size + i] as number) * (s[i] as number);
    }
  }
  const r = await runGradientFamily(
    ctx,
    x,
    classes,
    targets,
    { ...p, method: 'smoothgrad' },
    { noise, progress: options.progress, repeated: options.repeated },
  );
  // The mean σ per image, as the other noisy methods report one σ per image.
  const mean = Array.from({ length: B }, (_, b) => sigma.subarray(b * size, (b + 1) * size).reduce((a, v) => a + v, 0) / size);
  return { ...r, sigma: mean };
}
