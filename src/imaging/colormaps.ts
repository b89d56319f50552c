// 256-entry sRGB lookup tables, built once at load. Sequential maps are perceptually uniform;
// diverging maps put zero at the centre (entry 127.5). jet exists only for users who ask for it.
import createColormap from 'colormap';
import { BATLOW, RDBU_POSITIVE_RED, VIK, type Rgb } from './colormap-anchors.js';

export const SEQUENTIAL_COLORMAPS = ['viridis', 'inferno', 'magma', 'batlow', 'gray'] as const;
export const DIVERGING_COLORMAPS = ['RdBu', 'vik'] as const;
export const COLORMAPS = [...SEQUENTIAL_COLORMAPS, ...DIVERGING_COLORMAPS, 'jet'] as const;
export type ColormapName = (typeof COLORMAPS)[number];

/** 256 × [r, g, b], entry i for the unit value i/255. */
export type Lut = Uint8Array;

export function isDiverging(name: ColormapName): boolean {
  return (DIVERGING_COLORMAPS as readonly string[]).includes(name);
}

// viridis/inferno/magma/jet: the package's 9-anchor (jet: 6) approximations of matplotlib's
// tables, interpolated linearly in sRGB; within a few levels of matplotlib's 256-entry tables.
function fromPackage(name: string): Lut {
  const lut = new Uint8Array(256 * 3);
  createColormap({ colormap: name, nshades: 256, format: 'rgba' }).forEach(([r, g, b], i) => lut.set([r, g, b], 3 * i));
  return lut;
}

/** Linear interpolation between evenly spaced anchors. */
export function lutFromAnchors(anchors: readonly Rgb[]): Lut {
  const lut = new Uint8Array(256 * 3);
  const segments = anchors.length - 1;
  for (let i = 0; i < 256; i++) {
    const pos = (i / 255) * segments;
    const k = Math.min(Math.floor(pos), segments - 1);
    const f = pos - k;
    const a = anchors[k] ?? [0, 0, 0];
    const b = anchors[k + 1] ?? a;
    for (let c = 0; c < 3; c++) lut[3 * i + c] = Math.round((a[c] ?? 0) * (1 - f) + (b[c] ?? 0) * f);
  }
  return lut;
}

/**
 * 256 entries have no middle one, and unit value 0.5 (a zero attribution) lands on entry 128.
 * Build each half separately so entries 127 and 128 are both exactly the centre anchor: zero is
 * drawn in the neutral colour, not one level towards red.
 */
export function divergingLut(anchors: readonly Rgb[]): Lut {
  const mid = (anchors.length - 1) / 2;
  if (!Number.isInteger(mid)) throw new RangeError('a diverging map needs an odd number of anchors with the neutral one in the middle');
  const lower = lutFromAnchors(anchors.slice(0, mid + 1));
  const upper = lutFromAnchors(anchors.slice(mid));
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 128; i++) {
    const j = Math.round((i / 127) * 255);
    lut.set(lower.subarray(3 * j, 3 * j + 3), 3 * i);
    lut.set(upper.subarray(3 * (255 - j), 3 * (255 - j) + 3), 3 * (255 - i));
  }
  return lut;
}

const LUTS: Record<ColormapName, Lut> = {
  viridis: fromPackage('viridis'),
  inferno: fromPackage('inferno'),
  magma: fromPackage('magma'),
  batlow: lutFromAnchors(BATLOW),
  gray: lutFromAnchors([
    [0, 0, 0],
    [255, 255, 255],
  ]),
  RdBu: divergingLut(RDBU_POSITIVE_RED),
  vik: divergingLut(VIK),
  jet: fromPackage('jet'),
};

export function getLut(name: ColormapName): Lut {
  return LUTS[name];
}

/** Colour of unit value t (clamped to [0, 1]) as [r, g, b]. */
export function colourAt(lut: Lut, t: number): [number, number, number] {
  const i = 3 * Math.round(Math.min(Math.max(t, 0), 1) * 255);
  return [lut[i] ?? 0, lut[i + 1] ?? 0, lut[i + 2] ?? 0];
}
