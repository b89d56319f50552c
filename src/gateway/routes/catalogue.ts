// GET /v1/models, /v1/models/:id and /v1/methods: what can be explained, and how.
import { Type } from '@sinclair/typebox';
import { type FastifyInstance } from 'fastify';
import { SCALING_DEFAULTS } from '../../imaging/index.js';
import { MethodParamsSchema } from '../../jobs/contract.js';
import { METRIC_COSTS, METRIC_NAMES } from '../../metrics/evaluate.js';
import { BASE_METHODS, METHOD_BASES, METHOD_PARAMETERS, METHODS, type MethodName, methodKind, PRESETS, resolveParams } from '../../methods/params.js';
import { presetSpec } from '../../methods/presets.js';
import { type ModelEntry, type UnavailableModel } from '../../models/registry.js';
import { type GatewayDeps } from '../deps.js';
import { apiError } from '../errors.js';
import { ErrorSchema, IdParams, MethodListSchema, ModelListSchema, ModelSchema, UnavailableModelSchema } from '../schemas.js';

const DESCRIPTIONS: Record<MethodName, string> = {
  gradient: '∂y_c/∂x, signed (Simonyan et al. 2013).',
  'gradient-x-input': 'x ⊙ ∂y_c/∂x.',
  'integrated-gradients': '(x − x₀) ⊙ ∫₀¹ ∇y_c(x₀ + α(x − x₀)) dα (Sundararajan et al. 2017); reports the completeness gap.',
  smoothgrad: 'Mean of the base method over noisy copies x + ε (Smilkov et al. 2017); base=grad-cam is Smooth Grad-CAM (ReLU per copy, then the mean).',
  'smoothgrad-squared': 'Mean of the squared base method over noisy copies (Hooker et al. 2019).',
  vargrad: 'Variance of the base method over noisy copies (Adebayo et al. 2018); biased unless unbiased=true.',
  smoothdiff:
    'SmoothDiff (Hill et al., NeurIPS 2025): n noisy forward passes average each node’s local derivative, then one backward pass uses the averages (cost n·F + F + B). Exact E[J] at ReLU, MaxPool, elementwise nonlinearities and products; ops with dense Jacobians (Softmax, LayerNormalization, ReduceMax) use the Jacobian at the mean input, an approximation.',
  'guided-backprop': 'Gradient where every ReLU passes back only positive gradients at positive inputs (Springenberg et al. 2015).',
  'grad-cam': 'ReLU(Σ_k α_k A^k) at a 4-D layer, α_k the spatial mean of ∂y_c/∂A^k, upsampled bilinearly (Selvaraju et al. 2017).',
  'guided-grad-cam': 'Guided Backprop ⊙ Grad-CAM.',
  'grad-cam-plus-plus':
    'Grad-CAM++ (Chattopadhyay et al. 2018): ReLU(Σ_k w_k A^k), w_k = Σ_ij α_ij ReLU(∂y_c/∂A^k_ij), α = g²/(2g² + Σ_ab A_ab g³) with g = ∂y_c/∂A (the logit form, exp(y_c) cancels), upsampled bilinearly. Cost: one gradient pass.',
  noisegrad:
    'NoiseGrad (Bykov et al. 2022): mean of the base method over n models with multiplicative weight noise η ~ N(1, σ_w²) per weight (Conv, Gemm, MatMul, BatchNormalization scale and bias; head=false leaves the classifier head clean), each drawn afresh from the clean weights. Cost: n gradient passes.',
  fusiongrad: 'FusionGrad (Bykov et al. 2022): NoiseGrad × SmoothGrad, n noisy models × m noisy inputs. Cost: n·m gradient passes.',
  adaptgrad:
    'AdaptGrad (arXiv 2410.07711): SmoothGrad with a per-element σ_i = min(|x_i − lo|, |x_i − hi|)/(√2·erfinv(c)), lo/hi the model-space black and white, so copies stay in range with confidence c; the clean gradient is one of the n samples. Cost: n gradient passes.',
  'smooth-grad-cam-plus-plus':
    'Smooth Grad-CAM++ (Omeiza et al. 2019): Grad-CAM++ with g, g², g³ averaged over n noisy copies, A from the clean input. Cost: n + 1 gradient passes.',
};

const SMOOTHING: ReadonlySet<MethodName> = new Set(['smoothgrad', 'smoothgrad-squared', 'vargrad']);

/** One preset × method (× base) entry of GET /v1/methods: the library call, or why there is none. */
function presetEntry(preset: (typeof PRESETS)[number], method: MethodName, base: (typeof BASE_METHODS)[number] = 'gradient') {
  const spec = presetSpec(preset, method, base);
  if (!spec.supported) return { supported: false, reason: spec.reason };
  const defaults = Object.fromEntries(Object.entries(spec.params).filter(([, v]) => v !== undefined));
  return { supported: true, call: spec.call, returns: spec.returns, defaults };
}

function presetsOf(method: MethodName) {
  return Object.fromEntries(
    PRESETS.map((preset) => [
      preset,
      SMOOTHING.has(method)
        ? { ...presetEntry(preset, method), bases: Object.fromEntries(BASE_METHODS.map((b) => [b, presetEntry(preset, method, b)])) }
        : presetEntry(preset, method),
    ]),
  );
}

function modelView(entry: ModelEntry, withLabels: boolean) {
  const { manifest } = entry;
  return {
    id: entry.id,
    status: 'ready' as const,
    ...(manifest.name ? { name: manifest.name } : {}),
    ...(manifest.description ? { description: manifest.description } : {}),
    input: {
      layout: manifest.input.layout,
      size: [...manifest.input.size],
      channels: manifest.input.channels,
      range: [...manifest.input.range],
      mean: manifest.input.mean,
      std: manifest.input.std,
    },
    output: { kind: manifest.output.kind },
    ...(entry.labels ? { classes: entry.labels.length } : {}),
    ...(withLabels && entry.labels ? { labels: entry.labels } : {}),
    methods: [...METHODS],
    ...(manifest.gradCamLayer ? { gradCamLayer: manifest.gradCamLayer } : {}),
    ...(entry.facts ?? {}),
    hash: entry.hash,
    bytes: entry.bytes,
  };
}

/** A folder that cannot serve: the error its submissions get (the same text as the 409's). */
function unavailableView(u: UnavailableModel) {
  const manifest = u.entry?.manifest;
  return {
    id: u.id,
    status: 'unavailable' as const,
    error: { code: u.code, message: apiError(u.code, [u.id, u.reason]).message },
    ...(manifest?.name ? { name: manifest.name } : {}),
    ...(manifest?.description ? { description: manifest.description } : {}),
    ...(u.entry ? { hash: u.entry.hash, bytes: u.entry.bytes } : {}),
  };
}

export function catalogueRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  app.get(
    '/v1/models',
    { schema: { summary: 'Installed models: those that serve, and folders that cannot (with the reason)', response: { 200: ModelListSchema } } },
    async () => ({
      models: deps.registry.list().map((m) => modelView(m, false)),
      unavailable: deps.registry.unavailable().map(unavailableView),
    }),
  );

  app.get(
    '/v1/models/:id',
    {
      schema: {
        summary: "One model: input spec, labels, methods, default Grad-CAM layer; or, for a model that cannot serve, status 'unavailable' and why",
        params: IdParams,
        response: { 200: Type.Union([ModelSchema, UnavailableModelSchema]), '4xx': ErrorSchema },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      const entry = deps.registry.get(id);
      if (entry) return modelView(entry, true);
      const broken = deps.registry.unavailableModel(id);
      if (broken) return unavailableView(broken);
      throw apiError('SALIENCY_UNKNOWN_MODEL', [id]);
    },
  );

  app.get('/v1/methods', { schema: { summary: 'Every method with its parameters and defaults', response: { 200: MethodListSchema } } }, async () => ({
    methods: METHODS.map((name) => {
      const description = DESCRIPTIONS[name];
      const { seed: _seed, ...defaults } = resolveParams({ method: name }, 0);
      const used = new Set<string>(['target', 'preset', ...METHOD_PARAMETERS[name]]);
      return {
        name,
        kind: methodKind(name),
        description,
        parameters: [...used],
        ...(METHOD_BASES[name] ? { bases: [...(METHOD_BASES[name] ?? [])] } : {}),
        defaults: Object.fromEntries(Object.entries(defaults).filter(([k, v]) => used.has(k) && v !== undefined)),
        presets: presetsOf(name),
      };
    }),
    parameters: MethodParamsSchema,
    metrics: {
      description:
        'metrics=a,b,… on a job computes these with the explanation (of every target: one set per class, in targets[k].metrics); flip_steps (default 32) and imputation (zeros | mean) set pixel flipping',
      values: METRIC_NAMES.map((name) => ({ name, cost: METRIC_COSTS[name] })),
    },
    render: {
      reduce: { values: ['l2', 'abs-sum', 'abs-max', 'sum', 'mean'], default: { sensitivity: 'l2', attribution: 'sum' } },
      sign: { values: ['abs', 'positive', 'negative', 'all'], default: { sensitivity: 'abs', attribution: 'all' } },
      clip: { description: 'upper percentile where the map saturates (two-sided for signed maps)', default: 99 },
      scale: { description: "'image' (per image) or a fixed number, so maps of different images compare", default: 'image' },
      colormap: { values: ['viridis', 'inferno', 'magma', 'batlow', 'gray', 'RdBu', 'vik', 'jet'], default: { sequential: 'viridis', signed: 'RdBu' } },
      overlay: { description: 'heatmap opacity over a grayscale copy of the image', default: 0.5 },
      size: { values: ['input', 'original'], default: 'original' },
      scaling: {
        values: ['service', 'captum', 'pair', 'xplique'],
        default: "the preset the result was computed under, else 'service'",
        presets: Object.fromEntries(Object.entries(SCALING_DEFAULTS).map(([name, { call, ...defaults }]) => [name, { call, defaults }])),
      },
    },
  }));
}
