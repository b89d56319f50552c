// Pixel flipping in both orders (Samek et al. 2017; the symmetric relevance gain of Blücher et al.
// 2024): rank pixels by the L2 norm of the attribution over channels, replace them in `steps`
// equal chunks with the imputation value, most relevant first (MoRF) and least relevant first
// (LeRF), and record the target's softmax probability after each step (step 0 = the clean
// image). SRG = mean over steps 1..S of (LeRF − MoRF). All 2·S perturbed images go through the
// forward model as batches cut under the memory budget.
import { type ModelContext, pointsPerRun } from '../methods/context.js';
import { logitsOf } from '../methods/explain.js';
import { type Tensor } from '../methods/runner.js';
import { flippedAfter, pixelNorms, relevanceOrder, srg } from './quality.js';

export const IMPUTATIONS = ['zeros', 'mean'] as const;
export type Imputation = (typeof IMPUTATIONS)[number];

export interface PixelFlipping {
  steps: number;
  imputation: Imputation;
  /** Softmax probability of the target after steps 0..S, most relevant pixels first. */
  morf: number[];
  /** The same, least relevant pixels first. */
  lerf: number[];
  srg: number;
}

/**
 * `x` one image [1, C, H, W]; `attribution` its map [1, C′, H, W] (C′ = 1 for CAM maps).
 * Imputation `zeros`: 0 in model space; `mean`: each channel's mean over the image.
 */
export async function pixelFlipping(
  ctx: ModelContext,
  x: Tensor,
  attribution: Tensor,
  target: number,
  steps: number,
  imputation: Imputation,
  progress?: (done: number, total: number) => void,
): Promise<PixelFlipping> {
  const [, C = 1, H = 1, W = 1] = x.dims;
  const pixels = H * W;
  if (attribution.data.length % pixels !== 0) throw new RangeError('the attribution does not have the input’s spatial size');
  const order = relevanceOrder(pixelNorms(attribution.data, attribution.data.length / pixels));
  const fill = new Float32Array(C);
  if (imputation === 'mean') {
    for (let c = 0; c < C; c++) {
      let total = 0;
      for (let i = 0; i < pixels; i++) total += x.data[c * pixels + i] as number;
      fill[c] = total / pixels;
    }
  }
  const size = C * pixels;
  // Image j (0 ≤ j < 2S): order MoRF (j < S) or LeRF, after step (j mod S) + 1.
  const total = 2 * steps;
  const image = (j: number, into: Float32Array, offset: number) => {
    into.set(x.data, offset);
    const step = (j % steps) + 1;
    const count = flippedAfter(step, steps, pixels);
    for (let k = 0; k < count; k++) {
      const p = j < steps ? (order[k] as number) : (order[pixels - 1 - k] as number);
      for (let c = 0; c < C; c++) into[offset + c * pixels + p] = fill[c] as number;
    }
  };
  const probabilities = new Float64Array(total + 1);
  const clean = await logitsOf(ctx, x);
  probabilities[0] = softmaxAt(clean.data, 0, clean.dims[1] as number, target);
  const chunk = Math.max(1, pointsPerRun(ctx));
  for (let j0 = 0; j0 < total; j0 += chunk) {
    const j1 = Math.min(total, j0 + chunk);
    const batch = new Float32Array((j1 - j0) * size);
    for (let j = j0; j < j1; j++) image(j, batch, (j - j0) * size);
    const logits = await logitsOf(ctx, { data: batch, dims: [j1 - j0, ...x.dims.slice(1)] });
    const classes = logits.dims[1] as number;
    for (let j = j0; j < j1; j++) probabilities[j + 1] = softmaxAt(logits.data, j - j0, classes, target);
    progress?.(j1, total);
  }
  const morf = [probabilities[0] as number, ...probabilities.subarray(1, steps + 1)];
  const lerf = [probabilities[0] as number, ...probabilities.subarray(steps + 1)];
  return { steps, imputation, morf, lerf, srg: srg(morf, lerf) };
}

function softmaxAt(logits: Float32Array, row: number, classes: number, target: number): number {
  let max = -Infinity;
  for (let k = 0; k < classes; k++) max = Math.max(max, logits[row * classes + k] as number);
  let total = 0;
  for (let k = 0; k < classes; k++) total += Math.exp((logits[row * classes + k] as number) - max);
  return Math.exp((logits[row * classes + target] as number) - max) / total;
}
