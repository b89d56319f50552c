// Raw attribution → heatmap PNG, overlay PNG, numeric map, colour bar (docs/methods.md, "Rendering").
// Order: reduce channels → clip and scale at model resolution (so the reported scale does not
// depend on the output size) → optional bilinear projection to the original → colormap.
// These loops are CPU work: the gateway runs them in render-pool.ts's worker threads.
import sharp from 'sharp';
import { colourAt, getLut, isDiverging, type ColormapName } from './colormaps.js';
import { type DecodedImage } from './decode.js';
import { ImageError } from './errors.js';
import { projectToOriginal, type Geometry } from './geometry.js';
import { luma, modelView } from './preprocess.js';
import { isSignedMap, reduceChannels, type RawTensor } from './reduce.js';
import { type RenderOptions } from './render-options.js';
import { clipAndScale, keepsSign, toUnit, type ScaledMap } from './scale.js';

export interface RenderSource {
  /** The stored raw attribution, e.g. [N, C, H, W] float32. */
  raw: RawTensor;
  layout?: 'NCHW' | 'NHWC';
  /** Which sample of the batch; default 0. */
  sample?: number;
  /** From preprocess(); needed for size 'original' and for overlays. */
  geometry?: Geometry;
}

export interface RenderedPng {
  png: Buffer;
  width: number;
  height: number;
  /** The divisor used (docs/methods.md: the value used is reported). */
  scale: number;
  /** Subtracted before dividing (a library scaling's minimum or −span; else 0). */
  offset: number;
  clipValue: number;
  colormap: ColormapName;
  /** Whether colour 0 is offset − scale (signed maps and diverging colour maps) rather than offset. */
  centred: boolean;
}

export interface RenderLimits {
  /**
   * Largest output (width × height). A size 'original' rendering of a bigger image is drawn at
   * the largest size within it that keeps the image's aspect ratio; 'input' renderings are small.
   */
  maxPixels?: number;
}

export interface MapExport {
  width: number;
  height: number;
  signed: boolean;
  clipValue: number;
  scale: number;
  /** Rows of the reduced map clipped to ±clipValue, in attribution units (divide by `scale` for the colour coordinate). */
  values: number[][];
}

/**
 * Heatmap PNG, RGBA: pixels of the original that the model never saw (cropped away) are
 * transparent rather than painted with the colour of zero.
 */
export async function renderHeatmap(source: RenderSource, options: RenderOptions, limits: RenderLimits = {}): Promise<RenderedPng> {
  const { scaled, unit } = unitMap(source, options, limits);
  const lut = getLut(options.colormap);
  const rgba = new Uint8Array(unit.width * unit.height * 4);
  unit.data.forEach((t, p) => {
    if (Number.isNaN(t)) return;
    rgba.set(colourAt(lut, t), 4 * p);
    rgba[4 * p + 3] = 255;
  });
  const png = await encodePng(rgba, unit.width, unit.height, 4);
  return rendered(png, { scaled, unit }, options);
}

/** What a rendering reports beside its PNG: its size and how values were scaled and coloured. */
function rendered(png: Buffer, { scaled, unit }: ReturnType<typeof unitMap>, options: RenderOptions): RenderedPng {
  return {
    png,
    width: unit.width,
    height: unit.height,
    scale: scaled.scale,
    offset: scaled.offset,
    clipValue: scaled.clipValue,
    colormap: options.colormap,
    centred: isCentred(options),
  };
}

/** RGB PNG: the heatmap at opacity `options.overlay` over a grayscale copy of the image. */
export async function renderOverlay(source: RenderSource, image: DecodedImage, options: RenderOptions, limits: RenderLimits = {}): Promise<RenderedPng> {
  const { scaled, unit } = unitMap(source, options, limits);
  const backdrop = await backdropFor(image, source.geometry, options.size, unit.width, unit.height);
  const lut = getLut(options.colormap);
  const alpha = options.overlay;
  const rgb = new Uint8Array(unit.width * unit.height * 3);
  unit.data.forEach((t, p) => {
    const grey = luma(backdrop[3 * p] ?? 0, backdrop[3 * p + 1] ?? 0, backdrop[3 * p + 2] ?? 0);
    const heat = Number.isNaN(t) ? undefined : colourAt(lut, t);
    for (let c = 0; c < 3; c++) rgb[3 * p + c] = heat === undefined ? grey : Math.round((1 - alpha) * grey + alpha * (heat[c] ?? 0));
  });
  const png = await encodePng(rgb, unit.width, unit.height, 3);
  return rendered(png, { scaled, unit }, options);
}

/** The reduced, clipped map as numbers for dashboards, always at model resolution (it is small). */
export function renderMap(
  source: RenderSource,
  options: Pick<RenderOptions, 'reduce' | 'sign' | 'clip' | 'scale'> & Partial<Pick<RenderOptions, 'scaling'>>,
): MapExport {
  const map = reduceChannels(source.raw, options.reduce, options.sign, source.sample ?? 0, source.layout);
  const scaling = options.scaling ?? 'service';
  const signed = keepsSign(isSignedMap(options.reduce, options.sign), scaling);
  const scaled = clipAndScale(map, options.clip, options.scale, signed, scaling);
  const c = scaled.clipValue;
  const values = Array.from({ length: map.height }, (_, y) =>
    Array.from(map.data.subarray(y * map.width, (y + 1) * map.width), (v) => Math.min(Math.max(v, -c), c)),
  );
  return { width: map.width, height: map.height, signed, clipValue: c, scale: scaled.scale, values };
}

/**
 * A colour bar for legends: low → high left to right (horizontal) or bottom to top (vertical).
 * For diverging maps the middle is zero.
 */
export async function renderColourBar(colormap: ColormapName, { width = 256, height = 16, vertical = false } = {}): Promise<Buffer> {
  const lut = getLut(colormap);
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = vertical ? 1 - y / Math.max(height - 1, 1) : x / Math.max(width - 1, 1);
      rgb.set(colourAt(lut, t), 3 * (y * width + x));
    }
  }
  return encodePng(rgb, width, height, 3);
}

interface UnitMap {
  data: Float32Array;
  width: number;
  height: number;
}

function unitMap(source: RenderSource, options: RenderOptions, limits: RenderLimits): { scaled: ScaledMap; unit: UnitMap } {
  const map = reduceChannels(source.raw, options.reduce, options.sign, source.sample ?? 0, source.layout);
  const signed = keepsSign(isSignedMap(options.reduce, options.sign), options.scaling);
  const scaled = clipAndScale(map, options.clip, options.scale, signed, options.scaling);
  // Zero sits at the centre of a diverging colormap even for a non-negative map, so "no evidence"
  // always reads as the neutral colour (signed maps are only drawn on diverging maps).
  const data = scaled.data.map((v) => toUnit(v, isCentred(options)));
  if (options.size === 'input') return { scaled, unit: { data, width: map.width, height: map.height } };
  const full = requireGeometry(source.geometry, map.width, map.height);
  // Projecting onto a uniformly shrunk original is the same mapping at a coarser pixel pitch.
  const geometry = { ...full, original: fitWithin(full.original, limits.maxPixels) };
  return { scaled, unit: { data: projectToOriginal(data, geometry), width: geometry.original.width, height: geometry.original.height } };
}

/** The size itself when within `maxPixels`, else the largest one inside it with the same aspect ratio. */
export function fitWithin(size: { width: number; height: number }, maxPixels = Infinity): { width: number; height: number } {
  if (size.width * size.height <= maxPixels) return size;
  const f = Math.sqrt(maxPixels / (size.width * size.height));
  let width = Math.max(1, Math.floor(size.width * f));
  let height = Math.max(1, Math.floor(size.height * f));
  while (width * height > maxPixels) [width, height] = width >= height ? [width - 1, height] : [width, height - 1];
  return { width, height };
}

function requireGeometry(geometry: Geometry | undefined, width: number, height: number): Geometry {
  if (geometry === undefined) {
    throw new ImageError('SALIENCY_BAD_RENDER_PARAM', "size 'original' needs the upload's geometry (this input was a tensor); use size 'input'");
  }
  if (geometry.model.width !== width || geometry.model.height !== height) {
    throw new ImageError(
      'SALIENCY_BAD_RENDER_PARAM',
      `the map is ${width}×${height} but the model input was ${geometry.model.width}×${geometry.model.height}; use size 'input'`,
    );
  }
  return geometry;
}

async function backdropFor(
  image: DecodedImage,
  geometry: Geometry | undefined,
  size: RenderOptions['size'],
  width: number,
  height: number,
): Promise<Uint8Array> {
  if (size === 'original' || (image.width === width && image.height === height && geometry === undefined)) {
    if (image.width === width && image.height === height) return image.data;
    // The original, downscaled to the map's capped size (fitWithin of the same image).
    const capped = geometry !== undefined && geometry.original.width === image.width && geometry.original.height === image.height;
    if (!capped) throw new ImageError('SALIENCY_BAD_RENDER_PARAM', `the image is ${image.width}×${image.height} but the map is ${width}×${height}`);
    const resized = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
      .resize(width, height, { fit: 'fill', kernel: 'linear' })
      .raw()
      .toBuffer();
    return new Uint8Array(resized.buffer, resized.byteOffset, resized.byteLength);
  }
  return modelView(image, requireGeometry(geometry, width, height));
}

function encodePng(pixels: Uint8Array, width: number, height: number, channels: 3 | 4): Promise<Buffer> {
  return sharp(pixels, { raw: { width, height, channels } }).png().toBuffer();
}

/** Colour 0.5 is zero: signed maps, and any map drawn on a diverging colour map. */
function isCentred(options: RenderOptions): boolean {
  // Xplique's min-max scaling has no zero: its [0, 1] runs across the whole colormap.
  if (options.scaling === 'xplique') return false;
  return isSignedMap(options.reduce, options.sign) || isDiverging(options.colormap);
}
