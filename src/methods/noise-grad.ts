// NoiseGrad and FusionGrad (Bykov et al. 2022): noise on the weights instead of (or as well as)
// the input.
//   NoiseGrad   (1/n) Σ_m B_{θ⊙η_m}(x)                 η_m ~ N(1, σ_w²) per weight
//   FusionGrad  (1/(n·m)) Σ_m Σ_k B_{θ⊙η_m}(x + ε_k)   input noise as SmoothGrad
// Each noisy model is drawn afresh from the clean weights. The perturbed weights (every float
// weight of Conv, Gemm, MatMul and BatchNormalization's scale and bias, as the paper perturbs all
// parameters; optionally not the classifier head) are lifted to graph inputs before compiling
// (gradgraph/lift-initializers.ts), so one session serves every noisy model: no model copies,
// one run (or a few, under the memory budget) per noisy model with all its input copies.
import { compileGradient } from '../gradgraph/compile.js';
import { initializerValues, liftInitializers, weightInitializers } from '../gradgraph/lift-initializers.js';
import { valueRange } from './baselines.js';
import { type ModelContext, type Progress, pointsPerRun } from './context.js';
import { FUSED, buildFusedGraph, fusedOutputs } from './fused-graph.js';
import { imageRngs } from './noise.js';
import { baseRefusal, type ResolvedParams } from './params.js';
import { Rng } from './rng.js';
import { concat, type Tensor } from './runner.js';
import { oneHotSeed } from './targets.js';

export class NoiseGradError extends Error {
  override name = 'NoiseGradError';
}

export interface NoiseGradOptions {
  /** Explicit input noise ε [B, models·samples, …], model-major (FusionGrad; tests). */
  noise?: Float32Array;
  /** Explicit multiplicative weight noise η [models, Σ weight sizes], weights in `perturbedWeights` order (tests). */
  weightNoise?: Float32Array;
  progress?: Progress;
  /** Every image of the batch is one image repeated per target (noise.ts, imageRngs). */
  repeated?: boolean;
}

/** Which initializers a request perturbs, in the order explicit weight noise is laid out. */
export function perturbedWeights(ctx: ModelContext, p: Pick<ResolvedParams, 'head'>): string[] {
  return weightInitializers(ctx.model, { excludeHead: !p.head });
}

/** A stream of weight noise per noisy model, apart from the input-noise streams. */
const WEIGHT_SALT = 0x77e1647;
function weightRng(seed: number, model: number): Rng {
  return new Rng((seed ^ WEIGHT_SALT ^ Math.imul(model + 1, 0x85ebca6b)) >>> 0);
}

export async function runNoiseGrad(
  ctx: ModelContext,
  x: Tensor,
  classes: number,
  targets: number[],
  p: ResolvedParams,
  options: NoiseGradOptions = {},
): Promise<{ attribution: Tensor; sigma: number[] }> {
  const refusal = baseRefusal(p.method, p.base);
  if (refusal) throw new NoiseGradError(refusal);
  const fusion = p.method === 'fusiongrad';
  const n = p.models;
  const S = fusion ? p.samples : 1;
  const B = x.dims[0] as number;
  const size = x.data.length / B;
  const sample = ctx.sampleShape;
  const names = perturbedWeights(ctx, p);
  if (names.length === 0) throw new NoiseGradError('this model has no Conv, Gemm, MatMul or BatchNormalization weights to perturb');
  const clean = initializerValues(ctx.model, names);
  const total = clean.reduce((a, w) => a + w.values.length, 0);
  if (options.weightNoise && options.weightNoise.length !== n * total) throw new RangeError(`explicit weight noise must have shape [${n},${total}]`);
  if (options.noise && options.noise.length !== B * n * S * size) throw new RangeError(`explicit noise must have shape [${B},${n * S},${sample.join(',')}]`);

  const multiply = p.base === 'gradient-x-input';
  const key = `noisegrad:${p.head ? 'all' : 'no-head'}:${multiply ? 'mul' : 'plain'}`;
  const runner = await ctx.sessions(key, () => {
    const lifted = liftInitializers(ctx.model, names);
    const shapes = new Map(ctx.facts.shapes);
    const types = new Map(ctx.facts.types);
    for (const w of clean) {
      shapes.set(w.name, w.dims);
      types.set(w.name, 1);
    }
    const compiled = compileGradient(lifted, { facts: { ...ctx.facts, shapes, types }, input: ctx.input, float16: ctx.precision === 'float16' });
    return buildFusedGraph(compiled, sample);
  });

  const sigma = Array.from({ length: B }, (_, b) => {
    if (!fusion) return 0;
    if (p.sigma !== undefined) return p.sigma;
    const [lo, hi] = valueRange(x.data.subarray(b * size, (b + 1) * size));
    return p.noise * (hi - lo);
  });
  const rngs = imageRngs(p.seed, B, options.repeated);
  const noiseFor = (b: number, m: number, s0: number, count: number): Float32Array => {
    if (options.noise) return options.noise.subarray((b * n * S + m * S + s0) * size, (b * n * S + m * S + s0 + count) * size);
    const out = new Float32Array(count * size);
    return fusion ? (rngs[b] as Rng).fillNormal(out, sigma[b] as number) : out;
  };

  const cap = pointsPerRun(ctx);
  const together = B * S <= cap;
  const groups = together ? [Array.from({ length: B }, (_, b) => b)] : Array.from({ length: B }, (_, b) => [b]);
  const chunk = together ? S : Math.max(1, cap);
  const sum = new Float32Array(B * size);
  let done = 0;
  const image = (b: number) => x.data.subarray(b * size, (b + 1) * size);
  const zeros = new Float32Array(B * size);
  for (let m = 0; m < n; m++) {
    // Model m: θ ⊙ η_m, η_m = 1 + σ_w·z, drawn afresh from the clean weights.
    const feeds: Record<string, Tensor> = {};
    let offset = 0;
    const rng = weightRng(p.seed, m);
    for (const w of clean) {
      // θ·η in place of the drawn σ_w·z (η rounded to float32 first, as an η tensor would be).
      const noisy = options.weightNoise
        ? options.weightNoise.slice(m * total + offset, m * total + offset + w.values.length)
        : rng.fillNormal(new Float32Array(w.values.length), p.weightNoise);
      const shift = options.weightNoise ? 0 : 1;
      for (let i = 0; i < noisy.length; i++) noisy[i] = (w.values[i] as number) * Math.fround(shift + (noisy[i] as number));
      feeds[w.name] = { data: noisy, dims: w.dims };
      offset += w.values.length;
    }
    for (const group of groups) {
      for (let s0 = 0; s0 < S; s0 += chunk) {
        const count = Math.min(chunk, S - s0);
        const out = await runner.run({
          ...feeds,
          [FUSED.images]: { data: concat(group.map(image)), dims: [group.length, ...sample] },
          [FUSED.noise]: { data: concat(group.map((b) => noiseFor(b, m, s0, count))), dims: [group.length, count, ...sample] },
          [FUSED.baseline]: { data: zeros.subarray(0, group.length * size), dims: [group.length, ...sample] },
          [FUSED.alphas]: { data: Float32Array.of(1), dims: [1] },
          [FUSED.weights]: { data: Float32Array.of(1), dims: [1] },
          [FUSED.seed]: oneHotSeed(
            group.map((b) => targets[b] as number),
            classes,
          ),
          [FUSED.pick]: { data: Float32Array.of(0), dims: [1] },
        });
        const from = (out[fusedOutputs(multiply).sum] as Tensor).data;
        group.forEach((b, i) => {
          for (let j = 0; j < size; j++) sum[b * size + j] = (sum[b * size + j] as number) + (from[i * size + j] as number);
        });
        done += group.length * count;
        options.progress?.(done, B * n * S, 'gradients');
      }
    }
  }
  const attribution = Float32Array.from(sum, (v) => v / (n * S));
  return { attribution: { data: attribution, dims: [...x.dims] }, sigma };
}
