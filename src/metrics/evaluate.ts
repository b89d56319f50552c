// The quality metrics a job asked for (`metrics=…`), computed by the worker with the explanation,
// on the map of the job's (first) target.
import { type ExplainResult, explain } from '../methods/explain.js';
import { type ModelContext } from '../methods/context.js';
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

export async function evaluateMetrics(
  ctx: ModelContext,
  x: Tensor,
  params: MethodParams,
  result: ExplainResult,
  request: MetricsRequest,
  progress?: (done: number, total: number, stage: string) => void,
): Promise<QualityMetrics> {
  const want = new Set(request.metrics);
  const target = result.targets[0] as number;
  const [B = 1, C = 1, H = 1, W = 1] = result.attribution.dims;
  const size = result.attribution.data.length / B;
  const first: Tensor = { data: result.attribution.data.subarray(0, size), dims: [1, C, H, W] };
  const kind = methodKind(result.params.method, result.params.base);
  const map = magnitudeMap(first.data, C, kind);
  const out: QualityMetrics = {};
  if (want.has('sparseness')) out.sparseness = sparseness(map);
  if (want.has('complexity')) out.complexity = complexity(map);
  if (want.has('pixel-flipping')) {
    const one: Tensor = { data: x.data.subarray(0, x.data.length / (x.dims[0] as number)), dims: [1, ...x.dims.slice(1)] };
    out.pixelFlipping = await pixelFlipping(ctx, one, first, target, request.steps ?? DEFAULT_FLIP_STEPS, request.imputation ?? 'zeros', (d, t) =>
      progress?.(d, t, 'pixel-flipping'),
    );
  }
  if (want.has('random-logit')) {
    const classes = result.logits.dims[1] as number;
    const other = randomOtherClass(result.params.seed, target, classes);
    const one: Tensor = { data: x.data.subarray(0, x.data.length / (x.dims[0] as number)), dims: [1, ...x.dims.slice(1)] };
    const r = await explain(ctx, {
      x: one,
      params: { ...params, seed: result.params.seed },
      targets: [other],
      progress: (d, t) => progress?.(d, t, 'random-logit'),
    });
    out.randomLogit = { class: other, ssim: ssim(map, magnitudeMap(r.attribution.data, C, kind), H, W) };
  }
  return out;
}
