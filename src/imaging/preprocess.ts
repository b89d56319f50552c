// Decoded pixels → the float32 tensor a model manifest asks for, plus the Geometry to map back.
import sharp from 'sharp';
import { type DecodedImage } from './decode.js';
import { computeGeometry, type Geometry } from './geometry.js';
import { type PreprocessSpec, validatePreprocessSpec } from './preprocess-spec.js';

export interface PreprocessedImage {
  /** Float32, C-order, shape [1, C, H, W] (NCHW) or [1, H, W, C] (NHWC). */
  data: Float32Array;
  shape: [number, number, number, number];
  geometry: Geometry;
}

export async function preprocess(image: DecodedImage, spec: PreprocessSpec): Promise<PreprocessedImage> {
  validatePreprocessSpec(spec);
  const geometry = computeGeometry(image.width, image.height, spec);
  const rgb = await modelView(image, geometry, spec.padValue ?? 0);
  const { width, height } = geometry.model;
  const c = spec.channels;
  const data = new Float32Array(c * height * width);
  const divisor = spec.range[1] === 1 ? 255 : 1;
  for (let p = 0; p < width * height; p++) {
    const r = rgb[3 * p] ?? 0;
    const g = rgb[3 * p + 1] ?? 0;
    const b = rgb[3 * p + 2] ?? 0;
    const pixel = c === 3 ? [r, g, b] : [luma(r, g, b)];
    for (let k = 0; k < c; k++) {
      const value = ((pixel[k] ?? 0) / divisor - (spec.mean[k] ?? 0)) / (spec.std[k] ?? 1);
      data[spec.layout === 'NCHW' ? k * width * height + p : p * c + k] = value;
    }
  }
  const shape: PreprocessedImage['shape'] = spec.layout === 'NCHW' ? [1, c, height, width] : [1, height, width, c];
  return { data, shape, geometry };
}

/**
 * The image as the model sees it (resized, cropped or padded), 8-bit RGB at model resolution.
 * Also the backdrop for overlays at size 'input'.
 */
export async function modelView(image: DecodedImage, geometry: Geometry, padValue = 0): Promise<Uint8Array> {
  const { resized, model } = geometry;
  // Triangle ('linear') filter with antialiasing on downscale, as PIL's BILINEAR that
  // torchvision's Resize uses on PIL images; libvips' default lanczos3 would sharpen.
  const scaled =
    resized.width === image.width && resized.height === image.height
      ? image.data
      : await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
          .resize(resized.width, resized.height, { fit: 'fill', kernel: 'linear' })
          .raw()
          .toBuffer();
  const out = new Uint8Array(model.width * model.height * 3).fill(padValue);
  for (let y = 0; y < model.height; y++) {
    const sy = y + geometry.offsetY;
    if (sy < 0 || sy >= resized.height) continue;
    for (let x = 0; x < model.width; x++) {
      const sx = x + geometry.offsetX;
      if (sx < 0 || sx >= resized.width) continue;
      const from = 3 * (sy * resized.width + sx);
      out.set(scaled.subarray(from, from + 3), 3 * (y * model.width + x));
    }
  }
  return out;
}

/** ITU-R 601-2 luma in PIL's fixed-point form, so 1-channel models see what PIL's 'L' gives. */
export function luma(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
}
