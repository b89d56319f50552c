// Method names, parameters and their defaults (docs/methods.md), and the parity presets.
import { PresetError, type PresetOutput, presetSpec } from './presets.js';
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

/** Bases the gradient-family runner combines with noise (every base but the CAM one). */
const GRADIENT_BASES = ['gradient', 'gradient-x-input', 'integrated-gradients', 'guided-backprop'] as const satisfies readonly BaseMethod[];

/**
 * The bases each method with a `base` parameter accepts (GET /v1/methods lists them; a submission
 * with another base gets a 400). Grad-CAM as a base is Smooth Grad-CAM, SmoothGrad's alone;
 * NoiseGrad's weight-noise graphs carry the plain and ×input gradients only.
 */
export const METHOD_BASES: Partial<Record<MethodName, readonly BaseMethod[]>> = {
  smoothgrad: BASE_METHODS,
  'smoothgrad-squared': GRADIENT_BASES,
  vargrad: GRADIENT_BASES,
  adaptgrad: GRADIENT_BASES,
  noisegrad: ['gradient', 'gradient-x-input'],
  fusiongrad: ['gradient', 'gradient-x-input'],
};

/** Why `method` cannot run over `base` (undefined when it can, or when no base is given). */
export function baseRefusal(method: MethodName, base: BaseMethod | undefined): string | undefined {
  if (base === undefined) return undefined;
  const bases = METHOD_BASES[method];
  if (!bases) return `${method} takes no base`;
  return bases.includes(base) ? undefined : `${method} takes base ${bases.join(', ')}, not '${base}'`;
}

export const BASELINES = ['zeros', 'black', 'white', 'blur', 'uniform', 'mean'] as const;
export type BaselineName = (typeof BASELINES)[number];

export const PRESETS = ['captum', 'pair', 'xplique'] as const;
export type Preset = (typeof PRESETS)[number];

/** What a caller may set; everything is optional and filled by `resolveParams`. */
export interface MethodParams {
  method: MethodName;
  base?: BaseMethod;
  /** Noisy copies, or 'auto' (SmoothGrad family): stop once the mean map is known to `tolerance`. */
  samples?: number | 'auto';
  /** samples=auto: the most copies drawn (default: the fixed default, 50). */
  maxSamples?: number;
  /** samples=auto: stop when ‖standard error of the mean map‖ / ‖mean map‖ ≤ this (default 0.05). */
  tolerance?: number;
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
  /** Noisy copies; with `auto`, the most that are drawn. */
  samples: number;
  /** Adaptive stopping (samples=auto, SmoothGrad family only). */
  auto: boolean;
  tolerance: number;
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
  /** What the preset's library does to the output beyond these parameters (presets.ts). */
  output?: PresetOutput;
}

const SMOOTHING_PARAMETERS = ['base', 'samples', 'maxSamples', 'tolerance', 'noise', 'sigma', 'seed', 'steps', 'rule', 'baseline'] as const;

/** Methods that accept samples=auto: their fused graph returns Σg and Σg², so the error of the mean is known after each run. */
export const ADAPTIVE_METHODS: ReadonlySet<MethodName> = new Set(['smoothgrad', 'smoothgrad-squared', 'vargrad']);

export const DEFAULT_TOLERANCE = 0.05;

/** The parameters each method reads (besides target and preset). */
export const METHOD_PARAMETERS: Record<MethodName, readonly (keyof ResolvedParams | 'maxSamples')[]> = {
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

/** Parameters as reported: samples=auto shows as 'auto' with its maximum and tolerance. */
export type ReportedParams = Partial<Omit<ResolvedParams, 'samples' | 'auto'>> & { samples?: number | 'auto'; maxSamples?: number };

/** Parameters a method lists that only apply over some bases (SmoothGrad's IG and CAM ones). */
export function baseSpecific(key: string, base: string | undefined): boolean {
  if (key === 'steps' || key === 'rule' || key === 'baseline') return (base ?? 'gradient') !== 'integrated-gradients';
  if (key === 'layer' || key === 'relu') return (base ?? 'gradient') !== 'grad-cam';
  return false;
}

/** The resolved parameters a method actually used (IG's only over an IG base), for reports. */
export function usedParams(p: ResolvedParams): ReportedParams {
  let keys = METHOD_PARAMETERS[p.method];
  if (keys.includes('base')) keys = keys.filter((k) => !baseSpecific(k, p.base));
  // The seed is always reported (docs/methods.md), even where nothing random happened.
  const used: ReportedParams = { method: p.method, seed: p.seed };
  for (const key of keys) if (key !== 'maxSamples' && key !== 'tolerance' && p[key] !== undefined) (used as Record<string, unknown>)[key] = p[key];
  if (p.sigma !== undefined && keys.includes('sigma')) delete (used as Record<string, unknown>)['noise'];
  if (p.auto && keys.includes('maxSamples')) Object.assign(used, { samples: 'auto', maxSamples: p.samples, tolerance: p.tolerance });
  if (p.preset) used.preset = p.preset;
  return used;
}

export const NOISY_METHODS: ReadonlySet<MethodName> = new Set([
  'smoothgrad',
  'smoothgrad-squared',
  'vargrad',
  'smoothdiff',
  'smooth-grad-cam-plus-plus',
  'adaptgrad',
]);

/** Sensitivity maps are rendered as magnitudes; attributions keep their sign (docs/methods.md). */
export function methodKind(method: MethodName, base: BaseMethod = 'gradient'): 'sensitivity' | 'attribution' {
  if (method === 'gradient-x-input' || method === 'integrated-gradients') return 'attribution';
  if ((method === 'smoothgrad' || method === 'adaptgrad') && (base === 'gradient-x-input' || base === 'integrated-gradients')) return 'attribution';
  return 'sensitivity';
}

export function resolveParams(params: MethodParams, seed: number): ResolvedParams {
  const smoothdiff = params.method === 'smoothdiff';
  const spec = params.preset ? presetSpec(params.preset, params.method, params.base ?? 'gradient') : undefined;
  if (spec && !spec.supported) throw new PresetError(spec.reason);
  const preset: Partial<ResolvedParams> = spec?.supported ? spec.params : {};
  const pick = <K extends keyof ResolvedParams>(key: K, fallback: ResolvedParams[K]): ResolvedParams[K] =>
    (params[key as keyof MethodParams] as ResolvedParams[K] | undefined) ?? (preset[key] as ResolvedParams[K] | undefined) ?? fallback;
  const auto = params.samples === 'auto' && ADAPTIVE_METHODS.has(params.method);
  const fixed = params.samples === 'auto' ? undefined : params.samples;
  const defaultSamples =
    (preset.samples as number | undefined) ?? (smoothdiff ? 20 : params.method === 'smooth-grad-cam-plus-plus' ? 25 : params.method === 'fusiongrad' ? 10 : 50);
  return {
    method: params.method,
    base: pick('base', 'gradient'),
    samples: auto ? (params.maxSamples ?? defaultSamples) : (fixed ?? defaultSamples),
    auto,
    tolerance: params.tolerance ?? DEFAULT_TOLERANCE,
    noise: pick('noise', smoothdiff ? 0.1 : 0.15),
    sigma: pick('sigma', undefined),
    seed: params.seed ?? seed,
    steps: pick('steps', 50),
    rule: pick('rule', 'gauss-legendre'),
    baseline: pick('baseline', 'zeros'),
    unbiased: pick('unbiased', false),
    layer: params.layer,
    relu: pick('relu', true),
    confidence: params.confidence ?? 0.95,
    models: params.models ?? 10,
    weightNoise: params.weightNoise ?? 0.2,
    head: params.head ?? true,
    preset: params.preset,
    ...(spec?.supported && Object.keys(spec.output).length ? { output: spec.output } : {}),
  };
}
