// The quality metrics a job asked for (`metrics=…`), computed by the worker with the explanation,
// on the map of every target of the job (one set per class).
import { type ExplainResult, explain } from '../methods/explain.js';
import { type ModelContext, type Progress } from '../methods/context.js';
import { explainTargets } from '../methods/multi-target.js';
import { type MethodParams, methodKind } from '../methods/params.js';
import { Rng } from '../methods/rng.js';
import { type Tensor } from '../methods/runner.js';
import { type Imputation, type PixelFlipping, pixelFlipping } from './pixel-flipping.js';
import { complexity, magnitudeMap, sparseness, ssim } from './quality.js';

export const METRIC_NAMES = ['sparseness', 'complexity', 'pixel-flipping', 'random-logit'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

/** What each metric costs on top of the explanation (GET /v1/methods lists it). */
export const METRIC_COSTS: Record<MetricName, string> = {
  sparseness: 'none: a sort of the 2-D map',
  complexity: 'none: one pass over the 2-D map',
  'pixel-flipping': '2·steps + 1 forward passes (steps default 32), batched under the memory budget',
  'random-logit': 'one more explanation of the same image for a random other class (same seed, same noise)',
};

export const DEFAULT_FLIP_STEPS = 32;

export interface QualityMetrics {
  sparseness?: number;
  complexity?: number;
  pixelFlipping?: PixelFlipping;
  randomLogit?: { class: number; ssim: number };
}

export interface MetricsRequest {
  metrics: readonly MetricName[];
  steps?: number;
  imputation?: Imputation;
}

/** Salt of the random-logit class draw, so it never shares a stream with the method's noise. */
const RANDOM_LOGIT_SALT = 0x5a17e5;

/** The other class the random-logit check explains: uniform over the classes ≠ target. */
export function randomOtherClass(seed: number, target: number, classes: number): number {
  const draw = Math.floor(new Rng((seed ^ RANDOM_LOGIT_SALT) >>> 0).uniform() * (classes - 1)) % (classes - 1);
  return draw >= target ? draw + 1 : draw;
}

/**
 * The metrics of every map of `result`, one set per map in its order: per class of a several-target
 * job (x one image, the attribution [K, …]), or per image of a batch (x [N, …], one target each).
 */
export async function evaluateMetrics(
  ctx: ModelContext,
  x: Tensor,
  params: MethodParams,
  result: ExplainResult,
  request: MetricsRequest,
  progress?: (done: number, total: number, stage: string) => void,
): Promise<QualityMetrics[]> {
  const want = new Set(request.metrics);
  const [K = 1, C = 1, H = 1, W = 1] = result.attribution.dims;
  const size = result.attribution.data.length / K;
  const imageSize = x.data.length / (x.dims[0] as number);
  const slice = (k: number): Tensor => ({ data: result.attribution.data.subarray(k * size, (k + 1) * size), dims: [1, C, H, W] });
  const imageOf = (k: number): Tensor => {
    const i = x.dims[0] === 1 ? 0 : k;
    return { data: x.data.subarray(i * imageSize, (i + 1) * imageSize), dims: [1, ...x.dims.slice(1)] };
  };
  const kind = methodKind(result.params.method, result.params.base);
  const maps = Array.from({ length: K }, (_, k) => magnitudeMap(slice(k).data, C, kind));
  const out: QualityMetrics[] = maps.map((map) => ({
    ...(want.has('sparseness') ? { sparseness: sparseness(map) } : {}),
    ...(want.has('complexity') ? { complexity: complexity(map) } : {}),
  }));
  if (want.has('pixel-flipping')) {
    const steps = request.steps ?? DEFAULT_FLIP_STEPS;
    for (let k = 0; k < K; k++) {
      (out[k] as QualityMetrics).pixelFlipping = await pixelFlipping(
        ctx,
        imageOf(k),
        slice(k),
        result.targets[k] as number,
        steps,
        request.imputation ?? 'zeros',
        (d, t) => progress?.(k * t + d, K * t, 'pixel-flipping'),
      );
    }
  }
  if (want.has('random-logit')) {
    const classes = result.logits.dims[1] as number;
    const others = result.targets.map((t) => randomOtherClass(result.params.seed, t, classes));
    const otherMaps = await otherClassMaps(ctx, x, { ...params, seed: result.params.seed }, others, (d, t) => progress?.(d, t, 'random-logit'));
    others.forEach((other, k) => {
      (out[k] as QualityMetrics).randomLogit = { class: other, ssim: ssim(maps[k] as Float64Array, magnitudeMap(otherMaps[k] as Float32Array, C, kind), H, W) };
    });
  }
  return out;
}

/**
 * The maps of the random-logit classes, with the job's seed and noise: of one image for several
 * classes (one several-target explanation of the distinct classes), or one class per image.
 */
async function otherClassMaps(ctx: ModelContext, x: Tensor, params: MethodParams, others: number[], progress: Progress): Promise<Float32Array[]> {
  const several = x.dims[0] === 1 && others.length > 1;
  const classes = several ? [...new Set(others)] : others;
  const r = several ? await explainTargets(ctx, { x, params, spec: { classes }, progress }) : await explain(ctx, { x, params, targets: others, progress });
  const size = r.attribution.data.length / classes.length;
  return others.map((o, k) => {
    const at = several ? classes.indexOf(o) : k;
    return r.attribution.data.subarray(at * size, (at + 1) * size);
  });
}
