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
] as const;
export type MethodName = (typeof METHODS)[number];

export const BASE_METHODS = ['gradient', 'gradient-x-input', 'integrated-gradients', 'guided-backprop'] as const;
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
  preset: Preset | undefined;
  /** What the preset's library does to the output beyond these parameters (presets.ts). */
  output?: PresetOutput;
}

const SMOOTHING_PARAMETERS = ['base', 'samples', 'noise', 'sigma', 'seed', 'steps', 'rule', 'baseline'] as const;

/** The parameters each method reads (besides target and preset). */
export const METHOD_PARAMETERS: Record<MethodName, readonly (keyof ResolvedParams)[]> = {
  gradient: [],
  'gradient-x-input': [],
  'integrated-gradients': ['steps', 'rule', 'baseline'],
  smoothgrad: SMOOTHING_PARAMETERS,
  'smoothgrad-squared': SMOOTHING_PARAMETERS,
  vargrad: [...SMOOTHING_PARAMETERS, 'unbiased'],
  smoothdiff: ['samples', 'noise', 'sigma', 'seed'],
  'guided-backprop': [],
  'grad-cam': ['layer', 'relu'],
  'guided-grad-cam': ['layer', 'relu'],
};

/** The resolved parameters a method actually used (IG's only over an IG base), for reports. */
export function usedParams(p: ResolvedParams): Partial<ResolvedParams> {
  let keys = METHOD_PARAMETERS[p.method];
  if (keys.includes('base') && p.base !== 'integrated-gradients') keys = keys.filter((k) => k !== 'steps' && k !== 'rule' && k !== 'baseline');
  // The seed is always reported (docs/methods.md), even where nothing random happened.
  const used: Partial<ResolvedParams> = { method: p.method, seed: p.seed };
  for (const key of keys) if (p[key] !== undefined) (used as Record<string, unknown>)[key] = p[key];
  if (p.sigma !== undefined && keys.includes('sigma')) delete (used as Record<string, unknown>)['noise'];
  if (p.preset) used.preset = p.preset;
  return used;
}

export const NOISY_METHODS: ReadonlySet<MethodName> = new Set(['smoothgrad', 'smoothgrad-squared', 'vargrad', 'smoothdiff']);

/** Sensitivity maps are rendered as magnitudes; attributions keep their sign (docs/methods.md). */
export function methodKind(method: MethodName, base: BaseMethod = 'gradient'): 'sensitivity' | 'attribution' {
  if (method === 'gradient-x-input' || method === 'integrated-gradients') return 'attribution';
  if (method === 'smoothgrad' && (base === 'gradient-x-input' || base === 'integrated-gradients')) return 'attribution';
  return 'sensitivity';
}

export function resolveParams(params: MethodParams, seed: number): ResolvedParams {
  const smoothdiff = params.method === 'smoothdiff';
  const spec = params.preset ? presetSpec(params.preset, params.method, params.base ?? 'gradient') : undefined;
  if (spec && !spec.supported) throw new PresetError(spec.reason);
  const preset: Partial<ResolvedParams> = spec?.supported ? spec.params : {};
  const pick = <K extends keyof ResolvedParams>(key: K, fallback: ResolvedParams[K]): ResolvedParams[K] =>
    (params[key as keyof MethodParams] as ResolvedParams[K] | undefined) ?? (preset[key] as ResolvedParams[K] | undefined) ?? fallback;
  return {
    method: params.method,
    base: pick('base', 'gradient'),
    samples: pick('samples', smoothdiff ? 20 : 50),
    noise: pick('noise', smoothdiff ? 0.1 : 0.15),
    sigma: pick('sigma', undefined),
    seed: params.seed ?? seed,
    steps: pick('steps', 50),
    rule: pick('rule', 'gauss-legendre'),
    baseline: pick('baseline', 'zeros'),
    unbiased: pick('unbiased', false),
    layer: params.layer,
    relu: pick('relu', true),
    preset: params.preset,
    ...(spec?.supported && Object.keys(spec.output).length ? { output: spec.output } : {}),
  };
}
