// What a model manifest says about turning an image into the model's input tensor.
import { ImageError } from './errors.js';

export type ResizeMode = 'resize-crop' | 'resize' | 'pad';

export interface PreprocessSpec {
  layout: 'NCHW' | 'NHWC';
  /** Model input [H, W]. */
  size: [number, number];
  /**
   * - 'resize-crop': scale so the shorter side is `shorter` (torchvision Resize(shorter)), then
   *   centre-crop to `size` (CenterCrop). Without `shorter`, scale just enough to cover `size`.
   * - 'resize': stretch to `size`, ignoring aspect ratio.
   * - 'pad': scale to fit inside `size`, keep aspect ratio, centre it on a `padValue` border.
   */
  resize: { mode: ResizeMode; shorter?: number };
  /** Per-channel mean and std, in the units of `range` after scaling (ImageNet: [0.485,…], [0.229,…] with range [0,1]). */
  mean: number[];
  std: number[];
  /** Pixel values before normalisation: v/255 for [0, 1], v for [0, 255]. */
  range: [0, 1] | [0, 255];
  /** 3 = RGB, 1 = luma (ITU-R 601, as PIL's convert('L')). */
  channels: 3 | 1;
  /** 8-bit grey level of the border in 'pad' mode and of torchvision-style zero padding; default 0. */
  padValue?: number;
}

export function validatePreprocessSpec(spec: PreprocessSpec): void {
  const bad = (what: string): never => {
    throw new ImageError('SALIENCY_BAD_PREPROCESS_SPEC', `invalid preprocess spec: ${what}`);
  };
  if (spec.layout !== 'NCHW' && spec.layout !== 'NHWC') bad(`layout must be 'NCHW' or 'NHWC'`);
  const [h, w] = spec.size;
  if (!isPositiveInt(h) || !isPositiveInt(w)) bad('size must be two positive integers [H, W]');
  if (!['resize-crop', 'resize', 'pad'].includes(spec.resize.mode)) bad(`resize.mode must be 'resize-crop', 'resize' or 'pad'`);
  if (spec.resize.shorter !== undefined && !isPositiveInt(spec.resize.shorter)) bad('resize.shorter must be a positive integer');
  if (spec.channels !== 1 && spec.channels !== 3) bad('channels must be 1 or 3');
  if (spec.mean.length !== spec.channels || spec.std.length !== spec.channels) bad(`mean and std need ${spec.channels} entries`);
  if (spec.std.some((s) => !(s > 0))) bad('std entries must be > 0');
  if (spec.range[0] !== 0 || (spec.range[1] !== 1 && spec.range[1] !== 255)) bad('range must be [0, 1] or [0, 255]');
}

function isPositiveInt(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}
