// Decode an uploaded image into 8-bit sRGB pixels, the one representation every later step uses.
import sharp from 'sharp';
import { ImageError } from './errors.js';

/** Interleaved 8-bit sRGB, row-major, 3 channels, already turned upright by its EXIF orientation. */
export interface DecodedImage {
  data: Uint8Array;
  width: number;
  height: number;
  /** The container format sharp detected ('jpeg', 'png', 'webp', 'gif', 'tiff', 'heif'). */
  format: string;
}

export interface DecodeOptions {
  /** Largest width×height accepted, checked from the header before any pixel is decoded. */
  limitInputPixels?: number;
}

export const DEFAULT_PIXEL_LIMIT = 50_000_000;

// An allow-list rather than "whatever libvips can open": SVG, PDF, vips, magick and raw camera
// loaders are a larger attack surface and nothing a classifier is trained on.
const ACCEPTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif']);

// Transparent pixels are composited on white: that is what a viewer shows for a logo or a
// cut-out and what PIL's convert('RGB') after paste-on-white (the usual torchvision recipe) gives;
// black would invent dark edges the model would then "explain".
const FLATTEN_BACKGROUND = { r: 255, g: 255, b: 255 };

export async function decodeImage(bytes: Uint8Array, options: DecodeOptions = {}): Promise<DecodedImage> {
  const limit = options.limitInputPixels ?? DEFAULT_PIXEL_LIMIT;
  if (bytes.byteLength === 0) throw new ImageError('SALIENCY_IMAGE_UNREADABLE', 'the uploaded image is empty (0 bytes)');
  const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  // Header only, no pixels: lift sharp's own limit here so that we can check ours and name the
  // claimed size in the message.
  const meta = await sharp(input, { limitInputPixels: false })
    .metadata()
    .catch((err: unknown) => {
      throw unreadable(err);
    });
  if (meta.format === undefined || !ACCEPTED_FORMATS.has(meta.format)) {
    throw new ImageError('SALIENCY_IMAGE_UNSUPPORTED', `image format '${meta.format ?? 'unknown'}' is not accepted; send JPEG, PNG, WebP, GIF, TIFF or AVIF`);
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (width * height > limit) throw tooLarge(width, height, limit);

  try {
    // pages: 1 → first frame of an animated GIF/WebP; failOn 'warning' (sharp's default, stated
    // because it matters) rejects a truncated JPEG, which libjpeg only warns about and libvips
    // would pad with grey; rotate() applies the EXIF orientation.
    const { data, info } = await sharp(input, { limitInputPixels: limit, failOn: 'warning', pages: 1 })
      .rotate()
      .flatten({ background: FLATTEN_BACKGROUND })
      .toColourspace('srgb') // CMYK (via ICC), grey and 16-bit inputs all end as 8-bit sRGB
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new ImageError('SALIENCY_IMAGE_UNREADABLE', `decoded to ${info.channels} channels, expected 3`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, format: meta.format };
  } catch (err) {
    if (err instanceof ImageError) throw err;
    if (err instanceof Error && /pixel limit/i.test(err.message)) throw tooLarge(width, height, limit);
    throw unreadable(err);
  }
}

function unreadable(err: unknown): ImageError {
  const detail = err instanceof Error ? err.message : String(err);
  return new ImageError('SALIENCY_IMAGE_UNREADABLE', `the image could not be decoded (corrupt or truncated?): ${detail}`, { cause: err });
}

function tooLarge(width: number, height: number, limit: number): ImageError {
  return new ImageError(
    'SALIENCY_IMAGE_TOO_LARGE',
    `the image is ${width}×${height} = ${width * height} pixels; the limit is ${limit} pixels — downscale it before uploading`,
  );
}
