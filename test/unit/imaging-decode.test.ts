// Decoding uploads: every accepted format, bit depths, grey, alpha, CMYK, EXIF orientation, and
// the coded errors for corrupt, empty, unsupported and oversized inputs.
import assert from 'node:assert/strict';
import { pngClaiming } from '../helpers/png-bomb.js';
import { test } from 'node:test';
import sharp from 'sharp';
import { decodeImage, type DecodedImage } from '../../src/imaging/decode.js';
import { ImageError, type ImageErrorCode } from '../../src/imaging/errors.js';

const COLOUR = { r: 200, g: 100, b: 50 };

function solid(width = 32, height = 24, background: sharp.Color = COLOUR): sharp.Sharp {
  return sharp({ create: { width, height, channels: 3, background } });
}

function pixel(image: DecodedImage, x: number, y: number): number[] {
  const i = 3 * (y * image.width + x);
  return [...image.data.subarray(i, i + 3)];
}

function assertNear(actual: number[], expected: number[], tolerance: number): void {
  actual.forEach((v, i) => assert.ok(Math.abs(v - (expected[i] ?? NaN)) <= tolerance, `${JSON.stringify(actual)} vs ${JSON.stringify(expected)}`));
}

async function rejectsWith(promise: Promise<unknown>, code: ImageErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => err instanceof ImageError && err.code === code);
}

const formats: [string, () => Promise<Buffer>, string, number][] = [
  ['jpeg', () => solid().jpeg({ quality: 95 }).toBuffer(), 'jpeg', 3],
  ['png 16-bit', () => solid().toColourspace('rgb16').png().toBuffer(), 'png', 0],
  ['webp (lossless)', () => solid().webp({ lossless: true }).toBuffer(), 'webp', 0],
  ['tiff', () => solid().tiff().toBuffer(), 'tiff', 0],
  ['avif', () => solid().avif({ quality: 90 }).toBuffer(), 'heif', 8],
  ['gif', () => solid().gif().toBuffer(), 'gif', 8],
];

for (const [name, make, format, tolerance] of formats) {
  test(`decodes ${name} to 8-bit sRGB`, async () => {
    const image = await decodeImage(await make());
    assert.equal(image.format, format);
    assert.deepEqual([image.width, image.height, image.data.length], [32, 24, 32 * 24 * 3]);
    assertNear(pixel(image, 5, 7), [COLOUR.r, COLOUR.g, COLOUR.b], tolerance);
  });
}

test('png 16-bit really is 16-bit before decoding', async () => {
  const meta = await sharp(await solid().toColourspace('rgb16').png().toBuffer()).metadata();
  assert.equal(meta.depth, 'ushort');
});

test('animated gif: the first frame only', async () => {
  const red = await solid(8, 8, { r: 255, g: 0, b: 0 }).png().toBuffer();
  const blue = await solid(8, 8, { r: 0, g: 0, b: 255 }).png().toBuffer();
  const gif = await sharp([red, blue], { join: { animated: true } })
    .gif()
    .toBuffer();
  assert.equal((await sharp(gif).metadata()).pages, 2);
  const image = await decodeImage(gif);
  assert.deepEqual([image.width, image.height], [8, 8]);
  assertNear(pixel(image, 4, 4), [255, 0, 0], 8);
});

test('grayscale becomes three equal channels', async () => {
  const png = await solid(10, 10, { r: 90, g: 90, b: 90 }).toColourspace('b-w').png().toBuffer();
  assert.equal((await sharp(png).metadata()).channels, 1);
  assert.deepEqual(pixel(await decodeImage(png), 3, 3), [90, 90, 90]);
});

test('alpha is flattened on white', async () => {
  const rgba = Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 128, 255, 0, 0, 255, 0, 0, 255, 255]);
  const png = await sharp(rgba, { raw: { width: 4, height: 1, channels: 4 } })
    .png()
    .toBuffer();
  const image = await decodeImage(png);
  assert.deepEqual(pixel(image, 0, 0), [255, 255, 255]); // fully transparent → the white background
  assertNear(pixel(image, 1, 0), [255, 127, 127], 1); // half red over white
  assert.deepEqual(pixel(image, 2, 0), [255, 0, 0]);
  assert.deepEqual(pixel(image, 3, 0), [0, 0, 255]);
});

test('CMYK JPEG is converted to sRGB', async () => {
  const jpeg = await solid(16, 16, { r: 20, g: 60, b: 200 }).toColourspace('cmyk').jpeg().toBuffer();
  assert.equal((await sharp(jpeg).metadata()).space, 'cmyk');
  const image = await decodeImage(jpeg);
  assert.equal(image.data.length, 16 * 16 * 3);
  const [r = 0, g = 0, b = 0] = pixel(image, 8, 8);
  assert.ok(b > r + 60 && b > g + 40, `a blue stays blue through CMYK: ${r},${g},${b}`);
});

test('EXIF orientation 6 is applied (rotate 90° clockwise)', async () => {
  // Stored 40×20: left half red, right half blue. Upright it is 20×40 with red on top.
  const raw = new Uint8Array(40 * 20 * 3);
  for (let y = 0; y < 20; y++) for (let x = 0; x < 40; x++) raw.set(x < 20 ? [255, 0, 0] : [0, 0, 255], 3 * (y * 40 + x));
  const jpeg = await sharp(raw, { raw: { width: 40, height: 20, channels: 3 } })
    .withMetadata({ orientation: 6 })
    .jpeg({ quality: 95 })
    .toBuffer();
  assert.equal((await sharp(jpeg).metadata()).orientation, 6);
  const image = await decodeImage(jpeg);
  assert.deepEqual([image.width, image.height], [20, 40]);
  assertNear(pixel(image, 10, 5), [255, 0, 0], 12);
  assertNear(pixel(image, 10, 34), [0, 0, 255], 12);
});

test('zero-byte, garbage and truncated inputs are SALIENCY_IMAGE_UNREADABLE', async () => {
  await rejectsWith(decodeImage(new Uint8Array(0)), 'SALIENCY_IMAGE_UNREADABLE');
  await rejectsWith(decodeImage(new TextEncoder().encode('definitely not an image')), 'SALIENCY_IMAGE_UNREADABLE');
  // Noise so that the compressed stream is long and a cut lands mid-data.
  const noise = Uint8Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 2654435761) >>> 24);
  const noisy = sharp(noise, { raw: { width: 64, height: 64, channels: 3 } });
  for (const encoded of [await noisy.clone().png().toBuffer(), await noisy.clone().jpeg().toBuffer()]) {
    await rejectsWith(decodeImage(encoded.subarray(0, Math.floor(encoded.length / 2))), 'SALIENCY_IMAGE_UNREADABLE');
  }
});

test('formats outside the allow-list are SALIENCY_IMAGE_UNSUPPORTED', async () => {
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>');
  await rejectsWith(decodeImage(svg), 'SALIENCY_IMAGE_UNSUPPORTED');
});

test('a PNG header claiming 100000×100000 is SALIENCY_IMAGE_TOO_LARGE, before decoding', async () => {
  const bomb = pngClaiming(100_000, 100_000);
  assert.ok(bomb.length < 200);
  await assert.rejects(decodeImage(bomb), (err: unknown) => {
    assert.ok(err instanceof ImageError);
    assert.equal(err.code, 'SALIENCY_IMAGE_TOO_LARGE');
    assert.match(err.message, /100000×100000/);
    return true;
  });
});

test('limitInputPixels is configurable', async () => {
  const png = await solid(100, 100).png().toBuffer();
  await rejectsWith(decodeImage(png, { limitInputPixels: 5000 }), 'SALIENCY_IMAGE_TOO_LARGE');
  assert.equal((await decodeImage(png, { limitInputPixels: 10_000 })).width, 100);
});
