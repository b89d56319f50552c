// Rendering parameters and their defaults (docs/methods.md, "Rendering"), validated once so
// renderers can trust them.
import { COLORMAPS, DIVERGING_COLORMAPS, isDiverging, type ColormapName } from './colormaps.js';
import { ImageError } from './errors.js';
import { isMagnitudeReduction, isSignedMap, REDUCTIONS, SIGNS, type Reduction, type Sign } from './reduce.js';
import { keepsSign, SCALINGS, type Scaling } from './scale.js';

/** 'sensitivity': gradient, SmoothGrad family, SmoothDiff, guided backprop, Grad-CAM. 'attribution': gradient×input, IG. */
export type MethodKind = 'sensitivity' | 'attribution';

export interface RenderOptions {
  reduce: Reduction;
  sign: Sign;
  /** Upper percentile (0, 100] where the map saturates; of |v| for signed maps. */
  clip: number;
  /** 'image': divide by this image's clip value; a number: divide by it, so maps compare across images. */
  scale: 'image' | number;
  colormap: ColormapName;
  /** Heatmap opacity over the grayscale original, [0, 1]. */
  overlay: number;
  /** 'input': model resolution; 'original': projected back onto the uploaded image. */
  size: 'input' | 'original';
  /** 'service', or the scaling of a library's own visualiser (scale.ts). */
  scaling: Scaling;
}

/**
 * Each library visualiser's call and defaults, used with its scaling (a parity preset's
 * renderings): Captum's visualize_image_attr (sum over channels, sign 'absolute_value',
 * outlier_perc 2), PAIR's VisualizeImageGrayscale (Σ|·| over channels, 99th percentile) and
 * Xplique's plot_attributions (mean over channels, no absolute value, clip_percentile 0.1, cmap
 * 'viridis' as the service's).
 */
export const SCALING_DEFAULTS: Record<Exclude<Scaling, 'service'>, { call: string; reduce: Reduction; sign: Sign; clip: number }> = {
  captum: { call: "visualize_image_attr(attr, method='heat_map', sign='absolute_value', outlier_perc=2)", reduce: 'sum', sign: 'abs', clip: 98 },
  pair: { call: 'VisualizeImageGrayscale(mask, percentile=99) (VisualizeImageDiverging for sign all)', reduce: 'abs-sum', sign: 'abs', clip: 99 },
  xplique: { call: 'plot_attributions(explanations, images, clip_percentile=0.1)', reduce: 'mean', sign: 'all', clip: 99.9 },
};

/** What a caller may pass: anything, e.g. query-string values; numbers may arrive as strings. */
export type RenderParams = { [K in keyof RenderOptions]?: unknown };

const KEYS: readonly (keyof RenderOptions)[] = ['reduce', 'sign', 'clip', 'scale', 'colormap', 'overlay', 'size', 'scaling'];

/** `defaultScaling`: the scaling when none is asked for (a result computed under a preset: its library's). */
export function resolveRenderOptions(kind: MethodKind, params: RenderParams = {}, defaultScaling: Scaling = 'service'): RenderOptions {
  for (const key of Object.keys(params)) {
    if (!(KEYS as readonly string[]).includes(key)) bad(`unknown render parameter '${key}'; allowed: ${KEYS.join(', ')}`);
  }
  const givenReduce = params.reduce === undefined ? undefined : oneOf('reduce', params.reduce, REDUCTIONS);
  const givenSign = params.sign === undefined ? undefined : oneOf('sign', params.sign, SIGNS);
  const scaling = params.scaling === undefined ? defaultScaling : oneOf('scaling', params.scaling, SCALINGS);
  const library = scaling === 'service' ? undefined : SCALING_DEFAULTS[scaling];

  // Defaults follow the method kind (or the library's visualiser), but stay coherent with what was
  // given: asking for sign 'all' on a sensitivity map means "show me the signed sum", and a
  // magnitude reduction implies 'abs'.
  const reduce =
    givenReduce ??
    (givenSign === 'all' && (!library || isMagnitudeReduction(library.reduce)) ? 'sum' : (library?.reduce ?? (kind === 'sensitivity' ? 'l2' : 'sum')));
  const librarySign = library && !(library.sign === 'all' && isMagnitudeReduction(reduce)) ? library.sign : undefined;
  const sign = givenSign ?? librarySign ?? (isMagnitudeReduction(reduce) || kind === 'sensitivity' ? 'abs' : 'all');
  if (sign === 'all' && isMagnitudeReduction(reduce)) {
    bad(`sign 'all' keeps negative values, but reduce '${reduce}' is never negative; use sign 'abs', 'positive' or 'negative', or reduce 'sum' or 'mean'`);
  }

  const clip = params.clip === undefined ? (library?.clip ?? 99) : number('clip', params.clip);
  if (!(clip > 0 && clip <= 100)) bad(`clip must be a percentile in (0, 100], got ${clip}`);

  let scale: 'image' | number = 'image';
  if (params.scale !== undefined && params.scale !== 'image') {
    scale = number('scale', params.scale);
    if (!(scale > 0)) bad(`scale must be 'image' or a positive number, got ${scale}`);
  }

  const signed = keepsSign(isSignedMap(reduce, sign), scaling);
  if (typeof scale === 'number' && (scaling === 'xplique' || (scaling === 'pair' && !signed))) {
    bad(
      `scaling '${scaling}' normalises each map by its own minimum and maximum; a fixed scale does not apply: use scale 'image' or scaling 'service' or 'captum'`,
    );
  }
  const colormap = params.colormap === undefined ? (signed ? 'RdBu' : 'viridis') : oneOf('colormap', params.colormap, COLORMAPS, true);
  // Negative and positive evidence must be told apart and zero must read as "nothing": a signed
  // map is only ever drawn on a diverging map, centred at zero.
  if (signed && !isDiverging(colormap)) {
    bad(
      `a signed map (sign 'all' with reduce '${reduce}') is drawn on a diverging colormap centred at zero: use colormap ${DIVERGING_COLORMAPS.map((c) => `'${c}'`).join(' or ')}, or sign 'abs', 'positive' or 'negative'`,
    );
  }

  const overlay = params.overlay === undefined ? 0.5 : number('overlay', params.overlay);
  if (!(overlay >= 0 && overlay <= 1)) bad(`overlay is an opacity in [0, 1], got ${overlay}`);

  const size = params.size === undefined ? 'original' : oneOf('size', params.size, ['input', 'original'] as const);
  return { reduce, sign, clip, scale, colormap, overlay, size, scaling };
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[], caseInsensitive = false): T {
  const match = allowed.find((a) => a === value || (caseInsensitive && typeof value === 'string' && a.toLowerCase() === value.toLowerCase()));
  return match ?? bad(`${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(value)}`);
}

function number(name: string, value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  if (!Number.isFinite(n)) bad(`${name} must be a number, got ${JSON.stringify(value)}`);
  return n;
}

function bad(message: string): never {
  throw new ImageError('SALIENCY_BAD_RENDER_PARAM', message);
}
