// Method names, parameters and their defaults (../shared/METHODS.md), and the parity presets.
import { type IgRule } from './quadrature.js';
import { type Tensor } from './runner.js';

export const METHODS = [
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
export type MethodName = (typeof METHODS)[number];

// 'grad-cam' only as SmoothGrad's base (Smooth Grad-CAM, grad-cam-plus.ts).
export const BASE_METHODS = ['gradient', 'gradient-x-input', 'integrated-gradients', 'guided-backprop', 'grad-cam'] as const;
export type BaseMethod = (typeof BASE_METHODS)[number];

export const BASELINES = ['zeros', 'black', 'white', 'blur', 'uniform', 'mean'] as const;
export type BaselineName = (typeof BASELINES)[number];

export const PRESETS = ['captum', 'pair', 'xplique'] as const;
export type Preset = (typeof PRESETS)[number];

/** What a caller may set; everything is optional and filled by `resolveParams`. */
export interface MethodParams {
  method: MethodName;
  base?: BaseMethod;
  samples?: number;
  noise?: number;
  sigma?: number;
  seed?: number;
  steps?: number;
  rule?: IgRule;
  baseline?: BaselineName | Tensor;
  unbiased?: boolean;
  layer?: string;
  relu?: boolean;
  /** AdaptGrad: the probability c that a noisy element stays in the valid range. */
  confidence?: number;
  /** NoiseGrad/FusionGrad: noisy models n, weight noise σ_w, whether the classifier head is perturbed. */
  models?: number;
  weightNoise?: number;
  head?: boolean;
  preset?: Preset;
}

export interface ResolvedParams {
  method: MethodName;
  base: BaseMethod;
  samples: number;
  /** σ relative to each image's value range, unless `sigma` (absolute) is set. */
  noise: number;
  sigma: number | undefined;
  seed: number;
  steps: number;
  rule: IgRule;
  baseline: BaselineName | Tensor;
  unbiased: boolean;
  layer: string | undefined;
  relu: boolean;
  confidence: number;
  models: number;
  weightNoise: number;
  head: boolean;
  preset: Preset | undefined;
}

const SMOOTHING_PARAMETERS = ['base', 'samples', 'noise', 'sigma', 'seed', 'steps', 'rule', 'baseline'] as const;

/** The parameters each method reads (besides target and preset). */
export const METHOD_PARAMETERS: Record<MethodName, readonly (keyof ResolvedParams)[]> = {
  gradient: [],
  'gradient-x-input': [],
  'integrated-gradients': ['steps', 'rule', 'baseline'],
  smoothgrad: [...SMOOTHING_PARAMETERS, 'layer', 'relu'],
  'smoothgrad-squared': SMOOTHING_PARAMETERS,
  vargrad: [...SMOOTHING_PARAMETERS, 'unbiased'],
  smoothdiff: ['samples', 'noise', 'sigma', 'seed'],
  'guided-backprop': [],
  'grad-cam': ['layer', 'relu'],
  'guided-grad-cam': ['layer', 'relu'],
  'grad-cam-plus-plus': ['layer', 'relu'],
  'smooth-grad-cam-plus-plus': ['samples', 'noise', 'sigma', 'seed', 'layer', 'relu'],
  adaptgrad: ['base', 'samples', 'confidence', 'seed', 'steps', 'rule', 'baseline'],
  noisegrad: ['base', 'models', 'weightNoise', 'head', 'seed'],
  fusiongrad: ['base', 'models', 'weightNoise', 'head', 'samples', 'noise', 'sigma', 'seed'],
};

/** Parameters a method lists that only apply over some bases (SmoothGrad's IG and CAM ones). */
export function baseSpecific(key: string, base: string | undefined): boolean {
  if (key === 'steps' || key === 'rule' || key === 'baseline') return (base ?? 'gradient') !== 'integrated-gradients';
  if (key === 'layer' || key === 'relu') return (base ?? 'gradient') !== 'grad-cam';
  return false;
}

/** The resolved parameters a method actually used (IG's only over an IG base), for reports. */
export function usedParams(p: ResolvedParams): Partial<ResolvedParams> {
  let keys = METHOD_PARAMETERS[p.method];
  if (keys.includes('base')) keys = keys.filter((k) => !baseSpecific(k, p.base));
  // The seed is always reported (METHODS.md), even where nothing random happened.
  const used: Partial<ResolvedParams> = { method: p.method, seed: p.seed };
  for (const key of keys) if (p[key] !== undefined) (used as Record<string, unknown>)[key] = p[key];
  if (p.sigma !== undefined && keys.includes('sigma')) delete (used as Record<string, unknown>)['noise'];
  if (p.preset) used.preset = p.preset;
  return used;
}

export const NOISY_METHODS: ReadonlySet<MethodName> = new Set(['smoothgrad', 'smoothgrad-squared', 'vargrad', 'smoothdiff', 'smooth-grad-cam-plus-plus', 'adaptgrad']);

/** Sensitivity maps are rendered as magnitudes; attributions keep their sign (METHODS.md). */
export function methodKind(method: MethodName, base: BaseMethod = 'gradient'): 'sensitivity' | 'attribution' {
  if (method === 'gradient-x-input' || method === 'integrated-gradients') return 'attribution';
  if ((method === 'smoothgrad' || method === 'adaptgrad') && (base === 'gradient-x-input' || base === 'integrated-gradients')) return 'attribution';
  return 'sensitivity';
}

const PRESET_DEFAULTS: Record<Preset, (method: MethodName) => Partial<ResolvedParams>> = {
  // Captum: NoiseTunnel nt_samples=5 with absolute stdevs=1.0; IG n_steps=50 gauss-legendre, zeros.
  captum: (m) => ({
    ...(NOISY_METHODS.has(m) ? { samples: 5, sigma: 1.0 } : {}),
    steps: 50,
    rule: 'gauss-legendre',
    baseline: 'zeros',
    unbiased: false,
  }),
  // PAIR saliency: stdev_spread 0.15 (relative), nsamples 25; IG x_steps 25 on a uniform grid
  // including both ends, each point weighted 1/25.
  pair: (m) => ({
    ...(NOISY_METHODS.has(m) ? { samples: 25, noise: 0.15 } : {}),
    steps: 25,
    rule: 'uniform-inclusive',
  }),
  // Xplique: nb_samples 50 with absolute noise 0.2; VarGrad unbiased.
  xplique: (m) => ({
    ...(NOISY_METHODS.has(m) ? { samples: 50, sigma: 0.2 } : {}),
    unbiased: true,
  }),
};

export function resolveParams(params: MethodParams, seed: number): ResolvedParams {
  const smoothdiff = params.method === 'smoothdiff';
  const preset = params.preset ? PRESET_DEFAULTS[params.preset](params.method) : {};
  const pick = <K extends keyof ResolvedParams>(key: K, fallback: ResolvedParams[K]): ResolvedParams[K] =>
    (params[key as keyof MethodParams] as ResolvedParams[K] | undefined) ?? (preset[key] as ResolvedParams[K] | undefined) ?? fallback;
  return {
    method: params.method,
    base: pick('base', 'gradient'),
    samples: pick('samples', smoothdiff ? 20 : params.method === 'smooth-grad-cam-plus-plus' ? 25 : params.method === 'fusiongrad' ? 10 : 50),
    noise: pick('noise', smoothdiff ? 0.1 : 0.15),
    sigma: pick('sigma', undefined),
    seed: params.seed ?? seed,
    steps: pick('steps', 50),
    rule: pick('rule', 'gauss-legendre'),
    baseline: pick('baseline', 'zeros'),
    unbiased: pick('unbiased', false),
    layer: params.layer,
    relu: params.relu ?? true,
    confidence: params.confidence ?? 0.95,
    models: params.models ?? 10,
    weightNoise: params.weightNoise ?? 0.2,
    head: params.head ?? true,
    preset: params.preset,
  };
}
