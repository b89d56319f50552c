// Gradient, gradient×input, Integrated Gradients, Guided Backprop, and the SmoothGrad family over
// any of them, all through one fused graph (fused-graph.ts), cut into runs under the memory budget.
// samples=auto (SmoothGrad family): the samples go in chunks, and after each run the standard
// error of the mean map is known from Σ B_s and Σ B_s²; an image stops drawing copies once
// ‖SE‖₂ / ‖mean‖₂ ≤ tolerance (SmoothGrad² and VarGrad use the same criterion on the mean map).
// The first chunk is a fifth of the maximum; each later one is what the error so far predicts is
// still needed (nextAutoChunk), so a map far from the tolerance is not checked five times on its
// way to the maximum.
import { type BackwardPolicy } from '../gradgraph/index.js';
import { makeBaseline } from './baselines.js';
import { type ModelContext, type Progress, compileFor, pointsPerRun } from './context.js';
import { FUSED, buildFusedGraph, fusedOutputs } from './fused-graph.js';
import { guidedReluPolicy } from './guided.js';
import { checkNoise, imageRngs, imageSigmas, noiseSlice } from './noise.js';
import { type BaseMethod, type ResolvedParams } from './params.js';
import { quadrature } from './quadrature.js';
import { type Rng } from './rng.js';
import { concat, type GraphRunner, type Tensor } from './runner.js';
import { oneHotSeed } from './targets.js';

export interface FamilyOptions {
  /** Explicit noise ε [B, samples, …] in model units (tests feed PyTorch the same block). */
  noise?: Float32Array;
  progress?: Progress;
  /** Every image is one image repeated per target: image 0's noise stream and uniform baseline for all. */
  repeated?: boolean;
}

export interface FamilyResult {
  attribution: Tensor;
  /** σ used per image (0 for noiseless methods). */
  sigma: number[];
  /** Baseline per image, for IG's completeness check. */
  baseline?: Float32Array;
  /** The explained output at each clean image [B, classes] (single-point methods only). */
  logits?: Tensor;
  /** Noisy copies drawn per image (samples=auto may stop before the maximum). */
  samplesUsed?: number[];
  /** ‖standard error of the mean map‖ / ‖mean map‖ per image when it stopped (noisy methods). */
  relativeError?: number[];
}

/** Copies per run when stopping adaptively: a fifth of the maximum (≥ 2), so a stop can come early. */
export function adaptiveChunk(maximum: number): number {
  return Math.max(2, Math.ceil(maximum / 5));
}

/**
 * The next chunk of samples=auto after `used` samples reached `error`: the standard error falls as
 * 1/√n, so about used·(error/tolerance)² samples reach the tolerance. At least `least` (the error
 * is checked again no later than that), at most `most` (what is left, and what one run holds).
 */
export function nextAutoChunk(used: number, error: number, tolerance: number, least: number, most: number): number {
  const needed = Number.isFinite(error) ? Math.ceil(used * (error / tolerance) ** 2) - used : most;
  return Math.max(1, Math.min(most, Math.max(least, needed)));
}

/**
 * ‖SE‖₂ / ‖mean‖₂ of one image's mean map from n samples' Σx and Σx², SE² = s²/n with the
 * unbiased sample variance s². Infinite below two samples (no variance known) or for a zero mean.
 */
export function relativeStandardError(sum: Float32Array, sumOfSquares: Float32Array, n: number): number {
  if (n < 2) return Infinity;
  let se2 = 0;
  let mean2 = 0;
  for (let i = 0; i < sum.length; i++) {
    const mean = (sum[i] as number) / n;
    const variance = Math.max(0, ((sumOfSquares[i] as number) - n * mean * mean) / (n - 1));
    se2 += variance / n;
    mean2 += mean * mean;
  }
  if (mean2 === 0) return se2 === 0 ? 0 : Infinity;
  return Math.sqrt(se2 / mean2);
}

/** Methods whose only path point is the clean image: they can pick their targets in their own run. */
export const SINGLE_POINT = new Set(['gradient', 'gradient-x-input', 'guided-backprop']);

const SMOOTHING = new Set(['smoothgrad', 'smoothgrad-squared', 'vargrad']);

function baseOf(p: ResolvedParams): BaseMethod {
  if (SMOOTHING.has(p.method)) return p.base;
  if (p.method === 'guided-backprop' || p.method === 'gradient-x-input' || p.method === 'integrated-gradients') return p.method;
  return 'gradient';
}

/**
 * `targets` undefined: each image's argmax, picked inside the run (single-point methods only; the
 * result then carries the logits the targets came from).
 */
export async function runGradientFamily(
  ctx: ModelContext,
  x: Tensor,
  classes: number,
  targets: number[] | undefined,
  p: ResolvedParams,
  options: FamilyOptions = {},
): Promise<FamilyResult> {
  const base = baseOf(p);
  const guided = base === 'guided-backprop';
  const multiply = base === 'gradient-x-input' || base === 'integrated-gradients';
  const { alphas, weights } = base === 'integrated-gradients' ? quadrature(p.rule, p.steps) : { alphas: Float32Array.of(1), weights: Float32Array.of(1) };
  const baseline = base === 'integrated-gradients' ? makeBaseline(ctx, x, p.baseline, p.seed, options.repeated) : new Float32Array(x.data.length);
  const noisy = SMOOTHING.has(p.method);
  const S = noisy ? p.samples : 1;
  const T = alphas.length;
  const absolute = p.output?.absolute === true;
  const B = x.dims[0] as number;
  const sample = ctx.sampleShape;
  const size = x.data.length / B;

  checkNoise(options.noise, B, S, sample);
  const sigma = noisy ? imageSigmas(x, p) : new Array<number>(B).fill(0);
  const rngs = imageRngs(p.seed, B, options.repeated);
  const noiseFor = (b: number, s0: number, count: number): Float32Array =>
    noiseSlice(options.noise, S, size, b, s0, count, () => {
      const out = new Float32Array(count * size);
      return noisy ? (rngs[b] as Rng).fillNormal(out, sigma[b] as number) : out;
    });
  const auto = noisy && p.auto;
  const used = new Array<number>(B).fill(0);
  const error = new Array<number>(B).fill(Infinity);
  /** Each image's error so far (after each run with samples=auto, else once at the end); true when every image of the group may stop. */
  const converged = (group: number[]): boolean => {
    for (const b of group)
      error[b] = relativeStandardError(sum.subarray(b * size, (b + 1) * size), sumSq.subarray(b * size, (b + 1) * size), used[b] as number);
    return auto && group.every((b) => (error[b] as number) <= p.tolerance);
  };

  const policy: BackwardPolicy | undefined = guided ? guidedReluPolicy : undefined;
  const variant = guided ? 'guided' : 'standard';
  const cap = pointsPerRun(ctx);
  const total = B * S * T;
  let done = 0;
  const tick = (points: number) => {
    done += points;
    options.progress?.(done, total, 'gradients');
  };
  const single = SINGLE_POINT.has(p.method);
  if (!targets && !single) throw new Error(`${p.method} needs its targets chosen on the clean input first`);
  const pick = { data: Float32Array.of(targets ? 0 : 1), dims: [1] };
  const seedFor = (group: number[]) => oneHotSeed(targets ? group.map((b) => targets[b] as number) : group.map(() => 0), classes);
  const logits = new Float32Array(B * classes);
  const sum = new Float32Array(B * size);
  const sumSq = new Float32Array(B * size);
  const image = (b: number) => ({ data: x.data.subarray(b * size, (b + 1) * size), base: baseline.subarray(b * size, (b + 1) * size) });

  const outputs = fusedOutputs(multiply);
  if (T <= cap) {
    const runner = await fusedRunner(ctx, variant, policy, absolute);
    // All images in one run when they fit, else image by image in sample chunks.
    const together = B * S * T <= cap;
    const groups = together ? [Array.from({ length: B }, (_, b) => b)] : Array.from({ length: B }, (_, b) => [b]);
    const fit = together ? S : Math.max(1, Math.floor(cap / T));
    const firstChunk = auto ? Math.min(fit, adaptiveChunk(S)) : fit;
    /** Copies of the run starting at copy s0: with samples=auto, what any image of the group still needs. */
    const chunkAt = (group: number[], s0: number): number => {
      const left = Math.min(fit, S - s0);
      if (!auto || s0 === 0) return Math.min(firstChunk, left);
      return Math.max(...group.map((b) => nextAutoChunk(used[b] as number, error[b] as number, p.tolerance, firstChunk, left)));
    };
    const fetches = [FUSED.logits, outputs.sum, outputs.sumOfSquares];
    for (const group of groups) {
      for (let s0 = 0, count = chunkAt(group, 0); s0 < S; s0 += count, count = chunkAt(group, s0)) {
        const noise = concat(group.map((b) => noiseFor(b, s0, count)));
        const out = await runner.run(
          {
            [FUSED.images]: { data: concat(group.map((b) => image(b).data)), dims: [group.length, ...sample] },
            [FUSED.noise]: { data: noise, dims: [group.length, count, ...sample] },
            [FUSED.baseline]: { data: concat(group.map((b) => image(b).base)), dims: [group.length, ...sample] },
            [FUSED.alphas]: { data: alphas, dims: [T] },
            [FUSED.weights]: { data: weights, dims: [T] },
            [FUSED.seed]: seedFor(group),
            [FUSED.pick]: pick,
          },
          fetches,
        );
        if (single) logits.set((out[FUSED.logits] as Tensor).data, (group[0] as number) * classes);
        group.forEach((b, i) => {
          const first = used[b] === 0;
          accumulate(sum, b * size, (out[outputs.sum] as Tensor).data, i * size, size, first);
          // Σg² feeds only the smoothing methods (their error, SmoothGrad², VarGrad).
          if (noisy) accumulate(sumSq, b * size, (out[outputs.sumOfSquares] as Tensor).data, i * size, size, first);
          used[b] = (used[b] as number) + count;
        });
        tick(group.length * count * T);
        // Without samples=auto the error is only reported: computed once, after the last run.
        if (auto && converged(group)) break;
      }
      if (noisy && !auto) converged(group);
    }
  } else {
    // A quadrature longer than one run: per noisy copy, sum the step chunks, then finish in JS.
    const runner = await fusedRunner(ctx, variant, policy);
    for (let b = 0; b < B; b++) {
      const { data, base: x0 } = image(b);
      for (let s = 0; s < S; s++) {
        const noise = noiseFor(b, s, 1);
        const P = new Float32Array(size);
        for (let t0 = 0; t0 < T; t0 += cap) {
          const t1 = Math.min(T, t0 + cap);
          const out = await runner.run({
            [FUSED.images]: { data, dims: [1, ...sample] },
            [FUSED.noise]: { data: noise, dims: [1, 1, ...sample] },
            [FUSED.baseline]: { data: x0, dims: [1, ...sample] },
            [FUSED.alphas]: { data: alphas.subarray(t0, t1), dims: [t1 - t0] },
            [FUSED.weights]: { data: weights.subarray(t0, t1), dims: [t1 - t0] },
            [FUSED.seed]: seedFor([b]),
            [FUSED.pick]: pick,
          });
          accumulate(P, 0, (out[FUSED.sum] as Tensor).data, 0, size, t0 === 0);
          tick(t1 - t0);
        }
        for (let i = 0; i < size; i++) {
          const signed = multiply ? (P[i] as number) * ((data[i] as number) + (noise[i] as number) - (x0[i] as number)) : (P[i] as number);
          const v = absolute ? Math.abs(signed) : signed;
          sum[b * size + i] = (sum[b * size + i] as number) + v;
          sumSq[b * size + i] = (sumSq[b * size + i] as number) + v * v;
        }
        used[b] = s + 1;
        if (auto && (s + 1) % adaptiveChunk(S) === 0 && converged([b])) break;
      }
      if (noisy) converged([b]);
    }
  }

  const attribution = new Float32Array(B * size);
  for (let b = 0; b < B; b++) {
    const n = noisy ? (used[b] as number) : S;
    const at = b * size;
    if (p.method === 'smoothgrad-squared') divide(attribution, sumSq, at, size, n);
    else if (p.method === 'vargrad') variances(attribution, sum, sumSq, at, size, n, p.unbiased === true);
    else divide(attribution, sum, at, size, n);
  }
  return {
    attribution: { data: attribution, dims: [...x.dims] },
    sigma,
    baseline: base === 'integrated-gradients' ? baseline : undefined,
    logits: single ? { data: logits, dims: [B, classes] } : undefined,
    ...(noisy ? { samplesUsed: used, relativeError: error } : {}),
  };
}

/** One session per backward policy (and per |·| of Captum's Saliency) serves every combination of multiply and squares. */
async function fusedRunner(ctx: ModelContext, variant: string, policy: BackwardPolicy | undefined, absolute = false): Promise<GraphRunner> {
  return ctx.sessions(`fused:${variant}${absolute ? ':abs' : ''}`, () => buildFusedGraph(compileFor(ctx, variant, policy), ctx.sampleShape, { absolute }));
}

/** Adds `count` values of `from` into `into`; the first contribution is a copy. */
function accumulate(into: Float32Array, offset: number, from: Float32Array, fromOffset: number, count: number, first: boolean): void {
  if (first) {
    into.set(from.subarray(fromOffset, fromOffset + count), offset);
    return;
  }
  for (let i = 0; i < count; i++) into[offset + i] = (into[offset + i] as number) + (from[fromOffset + i] as number);
}

/** out[at…at+size) = values / n (a copy when n is 1). */
function divide(out: Float32Array, values: Float32Array, at: number, size: number, n: number): void {
  if (n === 1) {
    out.set(values.subarray(at, at + size), at);
    return;
  }
  for (let i = at; i < at + size; i++) out[i] = (values[i] as number) / n;
}

/** out[at…at+size) = the variance of the n values whose sums are `sum` and `sumSq` (unbiased: ÷ (n − 1)). */
function variances(out: Float32Array, sum: Float32Array, sumSq: Float32Array, at: number, size: number, n: number, unbiased: boolean): void {
  const corrected = unbiased && n > 1;
  for (let i = at; i < at + size; i++) {
    const mean = (sum[i] as number) / n;
    const variance = (sumSq[i] as number) / n - mean * mean;
    out[i] = corrected ? (variance * n) / (n - 1) : variance;
  }
}
