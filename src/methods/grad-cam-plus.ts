// The CAM family over noisy copies, through one fused graph (cam-graph.ts) cut into runs under
// the memory budget:
//
// - Smooth Grad-CAM (`smoothgrad` with `base: grad-cam`): (1/n) Σ_s GradCAM(x + ε_s), the ReLU
//   per copy, then the mean (the upsampling is linear, so it is done once, on the mean).
// - Grad-CAM++ (Chattopadhyay et al. 2018): L = ReLU(Σ_k w_k A^k), w_k = Σ_ij α_ij ReLU(g_ij),
//   α = g² / (2g² + Σ_ab A_ab g³), g = ∂y_c/∂A with y_c the logit. This is the exponential-output
//   form in which exp(y_c) cancels (as torchcam and pytorch-grad-cam compute it); α = 0 where the
//   denominator is 0.
// - Smooth Grad-CAM++ (Omeiza et al. 2019): Grad-CAM++ with g, g², g³ replaced by their means
//   over n noisy copies; A from the clean input.
import { valueRange } from './baselines.js';
import { CAM, buildCamGraph } from './cam-graph.js';
import { type ModelContext, type Progress, compileFor, pointsPerRun, spatialSize } from './context.js';
import { GradCamError, camLayer, resizeBilinear } from './grad-cam.js';
import { imageRngs } from './noise.js';
import { type ResolvedParams } from './params.js';
import { type Rng } from './rng.js';
import { concat, type GraphRunner, type Tensor } from './runner.js';
import { oneHotSeed } from './targets.js';

export interface CamOptions {
  /** Explicit noise ε [B, samples, …] in model units (tests feed PyTorch the same block). */
  noise?: Float32Array;
  progress?: Progress;
  /** Every image of the batch is one image repeated per target (noise.ts, imageRngs). */
  repeated?: boolean;
}

export interface CamResult {
  attribution: Tensor;
  layer: string;
  sigma: number[];
}

/** Whether a request is served here. */
export function isCamFamily(p: Pick<ResolvedParams, 'method' | 'base'>): boolean {
  return p.method === 'grad-cam-plus-plus' || p.method === 'smooth-grad-cam-plus-plus' || (p.method === 'smoothgrad' && p.base === 'grad-cam');
}

interface Sums {
  map: Float32Array;
  mapRelu: Float32Array;
  g1: Float32Array;
  g2: Float32Array;
  g3: Float32Array;
  activations: Float32Array;
}

export async function runCamFamily(
  ctx: ModelContext,
  x: Tensor,
  classes: number,
  targets: number[],
  p: ResolvedParams,
  options: CamOptions = {},
): Promise<CamResult> {
  if (!isCamFamily(p)) throw new GradCamError(`base grad-cam only combines with smoothgrad, not ${p.method}`);
  const cl = camLayer(ctx, p.layer);
  const { name: layer, K, h, w } = cl;
  const [H, W] = spatialSize(ctx);
  const key = `cam-family:${layer}`;
  const compiled = compileFor(ctx, `cam:${layer}`, { expose: [layer], stopAt: [layer] });
  const runner = await ctx.sessions(key, () => buildCamGraph(compiled, cl, ctx.sampleShape));

  const B = x.dims[0] as number;
  const size = x.data.length / B;
  const noisy = p.method !== 'grad-cam-plus-plus';
  const S = noisy ? p.samples : 0;
  const plusPlus = p.method !== 'smoothgrad';
  if (options.noise && options.noise.length !== B * S * size) throw new RangeError(`explicit noise must have shape [${B},${S},${ctx.sampleShape.join(',')}]`);
  const sigma = Array.from({ length: B }, (_, b) => {
    if (!noisy) return 0;
    if (p.sigma !== undefined) return p.sigma;
    const [lo, hi] = valueRange(x.data.subarray(b * size, (b + 1) * size));
    return p.noise * (hi - lo);
  });
  const rngs = imageRngs(p.seed, B, options.repeated);
  const noiseFor = (b: number, s0: number, count: number): Float32Array => {
    if (options.noise) return options.noise.subarray((b * S + s0) * size, (b * S + s0 + count) * size);
    return (rngs[b] as Rng).fillNormal(new Float32Array(count * size), sigma[b] as number);
  };

  const total = B * (S + (plusPlus ? 1 : 0));
  let done = 0;
  const tick = (points: number) => {
    done += points;
    options.progress?.(done, total, 'gradients');
  };
  const cap = pointsPerRun(ctx);
  // Grad-CAM++ needs the clean activations (and, unsmoothed, the clean moments): one S = 1 pass.
  const clean = plusPlus ? await sweep(runner, ctx, x, targets, classes, [K, h, w], 1, cap, () => new Float32Array(size), tick) : undefined;
  const smooth = noisy ? await sweep(runner, ctx, x, targets, classes, [K, h, w], S, cap, noiseFor, tick) : undefined;

  const cam = new Float32Array(B * H * W);
  const plane = h * w;
  for (let b = 0; b < B; b++) {
    const map = new Float32Array(plane);
    if (!plusPlus) {
      const from = (p.relu ? smooth?.mapRelu : smooth?.map) as Float32Array;
      for (let i = 0; i < plane; i++) map[i] = (from[b * plane + i] as number) / S;
    } else {
      const moments = (smooth ?? clean) as Sums;
      const n = smooth ? S : 1;
      const A = (clean as Sums).activations;
      for (let k = 0; k < K; k++) {
        const o = (b * K + k) * plane;
        let cross = 0; // Σ_ab A_ab · mean(g³)_ab
        for (let i = 0; i < plane; i++) cross += (A[o + i] as number) * ((moments.g3[o + i] as number) / n);
        let weight = 0;
        for (let i = 0; i < plane; i++) {
          const g1 = (moments.g1[o + i] as number) / n;
          const g2 = (moments.g2[o + i] as number) / n;
          const denominator = 2 * g2 + cross;
          const alpha = denominator !== 0 ? g2 / denominator : 0;
          weight += alpha * Math.max(0, g1);
        }
        for (let i = 0; i < plane; i++) map[i] = (map[i] as number) + weight * (A[o + i] as number);
      }
      if (p.relu) map.forEach((v, i) => (map[i] = Math.max(0, v)));
    }
    cam.set(resizeBilinear(map, h, w, H, W), b * H * W);
  }
  return { attribution: { data: cam, dims: [B, 1, H, W] }, layer, sigma };
}

/** Σ over S copies of every CAM output, per image; all images in one run when they fit. */
async function sweep(
  runner: GraphRunner,
  ctx: ModelContext,
  x: Tensor,
  targets: number[],
  classes: number,
  [K, h, w]: [number, number, number],
  S: number,
  cap: number,
  noiseFor: (b: number, s0: number, count: number) => Float32Array,
  tick: (points: number) => void,
): Promise<Sums> {
  const B = x.dims[0] as number;
  const size = x.data.length / B;
  const sums: Sums = {
    map: new Float32Array(B * h * w),
    mapRelu: new Float32Array(B * h * w),
    g1: new Float32Array(B * K * h * w),
    g2: new Float32Array(B * K * h * w),
    g3: new Float32Array(B * K * h * w),
    activations: new Float32Array(B * K * h * w),
  };
  const together = B * S <= cap;
  const groups = together ? [Array.from({ length: B }, (_, b) => b)] : Array.from({ length: B }, (_, b) => [b]);
  const chunk = together ? S : Math.max(1, cap);
  const names: [keyof Sums, string][] = [
    ['map', CAM.map],
    ['mapRelu', CAM.mapRelu],
    ['g1', CAM.g1],
    ['g2', CAM.g2],
    ['g3', CAM.g3],
    ['activations', CAM.activations],
  ];
  for (const group of groups) {
    for (let s0 = 0; s0 < S; s0 += chunk) {
      const count = Math.min(chunk, S - s0);
      const out = await runner.run({
        [CAM.images]: { data: concat(group.map((b) => x.data.subarray(b * size, (b + 1) * size))), dims: [group.length, ...ctx.sampleShape] },
        [CAM.noise]: { data: concat(group.map((b) => noiseFor(b, s0, count))), dims: [group.length, count, ...ctx.sampleShape] },
        [CAM.seed]: oneHotSeed(
          group.map((b) => targets[b] as number),
          classes,
        ),
      });
      for (const [field, name] of names) {
        const from = (out[name] as Tensor).data;
        const per = from.length / group.length;
        group.forEach((b, i) => {
          const into = sums[field];
          for (let j = 0; j < per; j++) into[b * per + j] = (into[b * per + j] as number) + (from[i * per + j] as number);
        });
      }
      tick(group.length * count);
    }
  }
  return sums;
}
