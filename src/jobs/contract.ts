// The job contract shared by the gateway and the workers: one TypeBox schema per shape, used as
// the TypeScript type, the validator, the OpenAPI entry and the test oracle.
import { type Static, Type } from '@sinclair/typebox';

// Mirrors src/methods/params.ts (the jobs layer imports nothing; a unit test keeps them equal).
export const METHOD_NAMES = [
  'gradient',
  'gradient-x-input',
  'integrated-gradients',
  'smoothgrad',
  'smoothgrad-squared',
  'vargrad',
  'smoothdiff',
  'guided-backprop',
  'grad-cam',
  'guided-grad-cam',
  'grad-cam-plus-plus',
  'smooth-grad-cam-plus-plus',
  'adaptgrad',
  'noisegrad',
  'fusiongrad',
] as const;
export const BASE_NAMES = ['gradient', 'gradient-x-input', 'integrated-gradients', 'guided-backprop', 'grad-cam'] as const;
export const IG_RULE_NAMES = ['gauss-legendre', 'riemann-left', 'riemann-right', 'riemann-middle', 'riemann-trapezoid', 'uniform-inclusive'] as const;
export const BASELINE_NAMES = ['zeros', 'black', 'white', 'blur', 'uniform', 'mean', 'uploaded'] as const;
export const PRESET_NAMES = ['captum', 'pair', 'xplique'] as const;

const literals = <T extends string>(values: readonly T[], options: Record<string, unknown> = {}) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    options,
  );

export const MethodName = literals(METHOD_NAMES, { description: 'Explanation method (see GET /v1/methods)' });

/** Method parameters as a client sends them (docs/methods.md); every one optional. */
export const MethodParamsSchema = Type.Object(
  {
    method: MethodName,
    base: Type.Optional(
      literals(BASE_NAMES, {
        description: 'SmoothGrad family: the method averaged over noisy copies (grad-cam: Smooth Grad-CAM, smoothgrad only)',
        default: 'gradient',
      }),
    ),
    samples: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1 }), Type.Literal('auto')], {
        description:
          "Noisy copies n (default 50; SmoothDiff 20; Smooth Grad-CAM++ 25), or 'auto' (SmoothGrad family): draw copies until the mean map's relative standard error is at most `tolerance`, at most `maxSamples`",
      }),
    ),
    maxSamples: Type.Optional(Type.Integer({ minimum: 2, description: 'samples=auto: the most copies drawn (default 50)' })),
    tolerance: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 1,
        description: 'samples=auto: stop when ‖standard error of the mean map‖ / ‖mean map‖ ≤ this (default 0.05)',
      }),
    ),
    noise: Type.Optional(Type.Number({ minimum: 0, maximum: 10, description: 'σ as a fraction of the input range (default 0.15; SmoothDiff 0.1)' })),
    sigma: Type.Optional(Type.Number({ minimum: 0, maximum: 1e6, description: 'σ in model-input units; overrides noise' })),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295, description: 'RNG seed; random when absent (always reported)' })),
    steps: Type.Optional(Type.Integer({ minimum: 1, description: 'Integrated Gradients steps (default 50)' })),
    rule: Type.Optional(literals(IG_RULE_NAMES, { description: 'Integrated Gradients quadrature', default: 'gauss-legendre' })),
    baseline: Type.Optional(
      literals(BASELINE_NAMES, { description: "Integrated Gradients baseline; 'uploaded' uses the request's baseline file", default: 'zeros' }),
    ),
    unbiased: Type.Optional(Type.Boolean({ description: 'VarGrad: multiply by n/(n−1)', default: false })),
    layer: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'Grad-CAM layer (tensor name); default from the model' })),
    relu: Type.Optional(Type.Boolean({ description: 'Grad-CAM: ReLU on the map', default: true })),
    models: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'NoiseGrad/FusionGrad: noisy models n (default 10)' })),
    weightNoise: Type.Optional(
      Type.Number({ minimum: 0, maximum: 10, description: 'NoiseGrad/FusionGrad: σ_w of the multiplicative weight noise η ~ N(1, σ_w²) (default 0.2)' }),
    ),
    head: Type.Optional(Type.Boolean({ description: 'NoiseGrad/FusionGrad: perturb the classifier head (the last Gemm/MatMul) too', default: true })),
    confidence: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        exclusiveMaximum: 1,
        description: 'AdaptGrad: probability c that a noisy element stays in the valid input range (default 0.95)',
      }),
    ),
    preset: Type.Optional(literals(PRESET_NAMES, { description: 'Defaults matching a library' })),
  },
  { additionalProperties: false },
);
export type MethodParams = Static<typeof MethodParamsSchema>;

export const JobStateSchema = literals(['queued', 'running', 'completed', 'failed', 'cancelled'] as const);
export type JobState = Static<typeof JobStateSchema>;

export const JobPayloadSchema = Type.Object({
  id: Type.String(),
  model: Type.String(),
  params: MethodParamsSchema,
  /** Class index, already resolved from a label by the gateway; absent: argmax. */
  target: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Several classes in one job (resolved by the gateway): one map per class, in this order. */
  targets: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1 })),
  /** Several classes in one job: the k largest logits of the clean input. */
  topK: Type.Optional(Type.Integer({ minimum: 1 })),
  /** Quality metrics to compute with the explanation (src/metrics/evaluate.ts). */
  metrics: Type.Optional(
    Type.Object({
      names: Type.Array(literals(['sparseness', 'complexity', 'pixel-flipping', 'random-logit'] as const)),
      steps: Type.Optional(Type.Integer({ minimum: 1 })),
      imputation: Type.Optional(literals(['zeros', 'mean'] as const)),
    }),
  ),
  input: Type.Object({ kind: literals(['image', 'tensor'] as const), key: Type.String(), filename: Type.Optional(Type.String()) }),
  baselineKey: Type.Optional(Type.String()),
  /** Hash of the API key that created the job (jobs are visible only to it). */
  owner: Type.Optional(Type.String()),
  submittedAt: Type.Number(),
});
export type JobPayload = Static<typeof JobPayloadSchema>;

export const ProgressSchema = Type.Object({
  done: Type.Integer({ minimum: 0 }),
  total: Type.Integer({ minimum: 0 }),
  stage: Type.String(),
});
export type Progress = Static<typeof ProgressSchema>;

const ClassScore = Type.Object({
  index: Type.Integer(),
  label: Type.Optional(Type.String()),
  logit: Type.Number(),
  score: Type.Number({ description: 'softmax probability' }),
});

export const QualityMetricsSchema = Type.Object(
  {
    sparseness: Type.Optional(Type.Number({ description: 'Gini index of |map| (0: uniform, 1: one pixel)' })),
    complexity: Type.Optional(Type.Number({ description: 'entropy of |map| / Σ|map| (natural log)' })),
    pixelFlipping: Type.Optional(
      Type.Object({
        steps: Type.Integer(),
        imputation: Type.String(),
        morf: Type.Array(Type.Number(), { description: 'target softmax probability after steps 0..S, most relevant pixels first' }),
        lerf: Type.Array(Type.Number(), { description: 'the same, least relevant pixels first' }),
        srg: Type.Number({ description: 'symmetric relevance gain: mean over steps 1..S of LeRF − MoRF' }),
      }),
    ),
    randomLogit: Type.Optional(Type.Object({ class: Type.Integer(), ssim: Type.Number({ description: 'SSIM of the map and the map for this other class' }) })),
  },
  { description: 'Explanation-quality metrics (requested with metrics=…)' },
);

/** One class of a several-target job: its map is slice `k` of the stored attribution [K, …]. */
export const TargetMapSchema = Type.Object({
  index: Type.Integer(),
  label: Type.Optional(Type.String()),
  logit: Type.Number(),
  score: Type.Number({ description: 'softmax probability' }),
  min: Type.Number(),
  max: Type.Number(),
  completenessGap: Type.Optional(Type.Number()),
  /** The quality metrics asked for, of this class's map. */
  metrics: Type.Optional(QualityMetricsSchema),
});
export type TargetMap = Static<typeof TargetMapSchema>;

export const JobResultSchema = Type.Object({
  prediction: Type.Object({
    target: Type.Integer(),
    label: Type.Optional(Type.String()),
    logit: Type.Number(),
    score: Type.Number(),
    top5: Type.Array(ClassScore),
  }),
  params: Type.Record(Type.String(), Type.Unknown(), { description: 'Resolved parameters: defaults filled in, seed chosen' }),
  attribution: Type.Object({
    shape: Type.Array(Type.Integer()),
    min: Type.Number(),
    max: Type.Number(),
    kind: literals(['sensitivity', 'attribution'] as const),
  }),
  completenessGap: Type.Optional(Type.Number({ description: 'Integrated Gradients: Σ attribution − (y(x) − y(x₀))' })),
  /** Several-target jobs: one entry per class, in the order of the attribution's first axis. */
  targets: Type.Optional(Type.Array(TargetMapSchema)),
  /** The quality metrics asked for, of the first target's map (several targets: each class's are in `targets`). */
  metrics: Type.Optional(QualityMetricsSchema),
  layer: Type.Optional(Type.String()),
  sigma: Type.Optional(Type.Number()),
  samplesUsed: Type.Optional(Type.Integer({ description: 'SmoothGrad family: noisy copies drawn (samples=auto may stop before maxSamples)' })),
  relativeError: Type.Optional(Type.Number({ description: 'SmoothGrad family: ‖standard error of the mean map‖ / ‖mean map‖ reached' })),
  image: Type.Optional(Type.Object({ width: Type.Integer(), height: Type.Integer(), format: Type.String() })),
  /** Where the model input sits in the uploaded image (to render at the original size). */
  geometry: Type.Optional(Type.Unknown()),
  timings: Type.Object({ computeMs: Type.Number(), totalMs: Type.Number() }),
});
export type JobResult = Static<typeof JobResultSchema>;
export type QualityMetrics = Static<typeof QualityMetricsSchema>;

export const JobErrorSchema = Type.Object({ code: Type.String(), message: Type.String() });
export type JobError = Static<typeof JobErrorSchema>;

/** What the queue knows about a job. */
export interface JobStatus {
  id: string;
  state: JobState;
  payload: JobPayload;
  progress?: Progress;
  result?: JobResult;
  error?: JobError;
  attempts: number;
  submittedAt: number;
  startedAt?: number;
  finishedAt?: number;
}

export type JobEvent =
  | { type: 'progress'; id: string; progress: Progress }
  | { type: 'completed'; id: string; result: JobResult }
  | { type: 'failed'; id: string; error: JobError }
  | { type: 'cancelled'; id: string };

/**
 * Job ids are minted by the gateway as random UUIDs (v4). Nothing else is a job id: a path such as
 * /v1/explanations/events or /v1/explanations/stalled-check must not reach the queue, where such
 * names are BullMQ's own keys (`<prefix>:<queue>:events`, `…:stalled-check`, `…:id`).
 */
const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export function isJobId(id: string): boolean {
  return JOB_ID.test(id);
}

/** Keys in the blob store. */
export const keys = {
  input: (id: string) => `input:${id}`,
  baseline: (id: string) => `baseline:${id}`,
  attribution: (id: string) => `attribution:${id}`,
  rendering: (id: string, variant: string) => `render:${id}:${variant}`,
  cancel: (id: string) => `cancel:${id}`,
  /** Tombstone of a deleted job whose worker may still be winding down. */
  deleted: (id: string) => `deleted:${id}`,
};
