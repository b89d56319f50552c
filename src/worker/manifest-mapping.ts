// From a model manifest to what imaging and the methods need.
import { type PreprocessSpec } from '../imaging/preprocess-spec.js';
import { type Manifest } from '../models/manifest.js';

export function preprocessSpec(manifest: Manifest): PreprocessSpec {
  const { input } = manifest;
  return {
    layout: input.layout,
    size: input.size,
    resize: { mode: input.resize.mode, ...(input.resize.shorter ? { shorter: input.resize.shorter } : {}) },
    mean: input.mean,
    std: input.std,
    range: input.range,
    channels: input.channels,
  };
}

/** Model-space values of a black and a white pixel, per channel (IG's black/white baselines). */
export function pixelRange(manifest: Manifest): { black: number[]; white: number[] } {
  const { mean, std, range } = manifest.input;
  const top = range[1];
  return {
    black: mean.map((m, c) => (0 - m) / (std[c] as number)),
    white: mean.map((m, c) => (top - m) / (std[c] as number)),
  };
}
