// Gradient, gradient×input, Integrated Gradients, Guided Backprop, and the SmoothGrad family over
// any of them, all through one fused graph (fused-graph.ts), cut into runs under the memory budget.
import { type BackwardPolicy } from '../gradgraph/index.js';
import { makeBaseline, valueRange } from './baselines.js';
import { type ModelContext, type Progress, compileFor, pointsPerRun } from './context.js';
import { FUSED, buildFusedGraph } from './fused-graph.js';
import { guidedReluPolicy } from './guided.js';
import { type BaseMethod, type ResolvedParams } from './params.js';
import { quadrature } from './quadrature.js';
import { Rng } from './rng.js';
import { type GraphRunner, type Tensor } from './runner.js';
import { oneHotSeed } from './targets.js';

export interface FamilyOptions {
  /** Explicit noise ε [B, samples, …] in model units (tests feed PyTorch the same block). */
  noise?: Float32Array;
  progress?: Progress;
}

export interface FamilyResult {
  attribution: Tensor;
  /** σ used per image (0 for noiseless methods). */
  sigma: number[];
  /** Baseline per image, for IG's completeness check. */
  baseline?: Float32Array;
  /** The explained output at each clean image [B, classes] (single-point methods only). */
  logits?: Tensor;
}

/** Methods whose only path point is the clean image: they can pick their targets in their own run. */
export const SINGLE_POINT = new Set(['gradient', 'gradient-x-input', 'guided-backprop']);

const SMOOTHING = new Set(['smoothgrad', 'smoothgrad-squared', 'vargrad']);

function baseOf(p: ResolvedParams): BaseMethod {
  if (SMOOTHING.has(p.method)) return p.base;
  if (p.method === 'guided-backprop' || p.method === 'gradient-x-input' || p.method === 'integrated-gradients') return p.method;
  return 'gradient';
}

/** A per-image noise stream: independent of how samples are cut into runs. */
export function imageRng(seed: number, image: number): Rng {
  return new Rng((seed ^ Math.imul(image + 1, 0x9e3779b1)) >>> 0);
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
  const baseline = base === 'integrated-gradients' ? makeBaseline(ctx, x, p.baseline, p.seed) : new Float32Array(x.data.length);
  const noisy = SMOOTHING.has(p.method);
  const S = noisy ? p.samples : 1;
  const T = alphas.length;
  const squares = p.method === 'smoothgrad-squared' || p.method === 'vargrad';
  const B = x.dims[0] as number;
  const sample = ctx.sampleShape;
  const size = x.data.length / B;

  if (options.noise && options.noise.length !== B * S * size) {
    throw new RangeError(`explicit noise must have shape [${B},${S},${sample.join(',')}]`);
  }
  const sigma = Array.from({ length: B }, (_, b) => {
    if (!noisy) return 0;
    if (p.sigma !== undefined) return p.sigma;
    const [lo, hi] = valueRange(x.data.subarray(b * size, (b + 1) * size));
    return p.noise * (hi - lo);
  });
  const rngs = Array.from({ length: B }, (_, b) => imageRng(p.seed, b));
  const noiseFor = (b: number, s0: number, count: number): Float32Array => {
    if (options.noise) return options.noise.subarray((b * S + s0) * size, (b * S + s0 + count) * size);
    const out = new Float32Array(count * size);
    return noisy ? (rngs[b] as Rng).fillNormal(out, sigma[b] as number) : out;
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

  if (T <= cap) {
    const runner = await fusedRunner(ctx, variant, policy, multiply, squares);
    // All images in one run when they fit, else image by image in sample chunks.
    const together = B * S * T <= cap;
    const groups = together ? [Array.from({ length: B }, (_, b) => b)] : Array.from({ length: B }, (_, b) => [b]);
    const chunk = together ? S : Math.max(1, Math.floor(cap / T));
    for (const group of groups) {
      for (let s0 = 0; s0 < S; s0 += chunk) {
        const count = Math.min(chunk, S - s0);
        const noise = concat(group.map((b) => noiseFor(b, s0, count)));
        const out = await runner.run({
          [FUSED.images]: { data: concat(group.map((b) => image(b).data)), dims: [group.length, ...sample] },
          [FUSED.noise]: { data: noise, dims: [group.length, count, ...sample] },
          [FUSED.baseline]: { data: concat(group.map((b) => image(b).base)), dims: [group.length, ...sample] },
          [FUSED.alphas]: { data: alphas, dims: [T] },
          [FUSED.weights]: { data: weights, dims: [T] },
          [FUSED.seed]: seedFor(group),
          [FUSED.pick]: pick,
        });
        if (single) logits.set((out[FUSED.logits] as Tensor).data, (group[0] as number) * classes);
        group.forEach((b, i) => {
          accumulate(sum, b * size, (out[FUSED.sum] as Tensor).data, i * size, size);
          if (squares) accumulate(sumSq, b * size, (out[FUSED.sumOfSquares] as Tensor).data, i * size, size);
        });
        tick(group.length * count * T);
      }
    }
  } else {
    // A quadrature longer than one run: per noisy copy, sum the step chunks, then finish in JS.
    const runner = await fusedRunner(ctx, variant, policy, false, false);
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
          accumulate(P, 0, (out[FUSED.sum] as Tensor).data, 0, size);
          tick(t1 - t0);
        }
        for (let i = 0; i < size; i++) {
          const v = multiply ? (P[i] as number) * ((data[i] as number) + (noise[i] as number) - (x0[i] as number)) : (P[i] as number);
          sum[b * size + i] = (sum[b * size + i] as number) + v;
          sumSq[b * size + i] = (sumSq[b * size + i] as number) + v * v;
        }
      }
    }
  }

  const attribution = new Float32Array(B * size);
  const n = S;
  for (let i = 0; i < attribution.length; i++) {
    const mean = (sum[i] as number) / n;
    if (p.method === 'smoothgrad-squared') attribution[i] = (sumSq[i] as number) / n;
    else if (p.method === 'vargrad') {
      const variance = (sumSq[i] as number) / n - mean * mean;
      attribution[i] = p.unbiased && n > 1 ? (variance * n) / (n - 1) : variance;
    } else attribution[i] = mean;
  }
  return {
    attribution: { data: attribution, dims: [...x.dims] },
    sigma,
    baseline: base === 'integrated-gradients' ? baseline : undefined,
    logits: single ? { data: logits, dims: [B, classes] } : undefined,
  };
}

async function fusedRunner(ctx: ModelContext, variant: string, policy: BackwardPolicy | undefined, multiply: boolean, squares: boolean): Promise<GraphRunner> {
  const key = `fused:${variant}:${multiply ? 'mul' : 'plain'}:${squares ? 'sq' : 'sum'}`;
  return ctx.sessions(key, () => buildFusedGraph(compileFor(ctx, variant, policy), ctx.sampleShape, { multiply, squares }));
}

function accumulate(into: Float32Array, offset: number, from: Float32Array, fromOffset: number, count: number): void {
  for (let i = 0; i < count; i++) into[offset + i] = (into[offset + i] as number) + (from[fromOffset + i] as number);
}

function concat(parts: Float32Array[]): Float32Array {
  if (parts.length === 1) return parts[0] as Float32Array;
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
