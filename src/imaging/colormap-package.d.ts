// Types for the `colormap` npm package (2.3.2), which ships none. Only what colormaps.ts uses.
declare module 'colormap' {
  interface ColormapSpec {
    colormap: string;
    nshades: number;
    format: 'rgba';
    alpha?: number;
  }
  /** One [r, g, b, a] entry per shade, r/g/b as 0–255 integers. */
  export default function createColormap(spec: ColormapSpec): [number, number, number, number][];
}
