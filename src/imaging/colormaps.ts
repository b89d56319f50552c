// 256-entry sRGB lookup tables from colormap-tables.ts (generated from matplotlib's and Crameri's
// published tables; the web page reads the same file). Sequential maps are perceptually uniform;
// diverging maps put zero at the centre (unit value 0.5). jet exists only for users who ask for it.
import { COLORMAP_TABLES } from './colormap-tables.js';

export const SEQUENTIAL_COLORMAPS = ['viridis', 'inferno', 'magma', 'batlow', 'gray'] as const;
export const DIVERGING_COLORMAPS = ['RdBu', 'vik'] as const;
export const COLORMAPS = [...SEQUENTIAL_COLORMAPS, ...DIVERGING_COLORMAPS, 'jet'] as const;
export type ColormapName = (typeof COLORMAPS)[number];

/** 256 × [r, g, b], entry i for the unit value i/255. */
export type Lut = Uint8Array;

export function isDiverging(name: ColormapName): boolean {
  return (DIVERGING_COLORMAPS as readonly string[]).includes(name);
}

const LUTS = Object.fromEntries(
  Object.entries(COLORMAP_TABLES).map(([name, hex]) => [name, Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16))]),
) as Record<ColormapName, Lut>;

export function getLut(name: ColormapName): Lut {
  return LUTS[name];
}

/** Colour of unit value t (clamped to [0, 1]) as [r, g, b]. */
export function colourAt(lut: Lut, t: number): [number, number, number] {
  const i = 3 * Math.round(Math.min(Math.max(t, 0), 1) * 255);
  return [lut[i] ?? 0, lut[i + 1] ?? 0, lut[i + 2] ?? 0];
}
