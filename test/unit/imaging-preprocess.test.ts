// Preprocessing numbers and geometry: exact normalisation, torchvision's Resize+CenterCrop
// arithmetic, padding, and projection of a model-resolution map back onto the original.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type DecodedImage } from '../../src/imaging/decode.js';
import { ImageError } from '../../src/imaging/errors.js';
import { computeGeometry, projectToOriginal, roundHalfEven } from '../../src/imaging/geometry.js';
import { preprocess } from '../../src/imaging/preprocess.js';
import { type PreprocessSpec } from '../../src/imaging/preprocess-spec.js';

const IMAGENET: PreprocessSpec = {
  layout: 'NCHW',
  size: [224, 224],
  resize: { mode: 'resize-crop', shorter: 256 },
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  range: [0, 1],
  channels: 3,
};

function constant(width: number, height: number, rgb: [number, number, number]): DecodedImage {
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) data.set(rgb, 3 * p);
  return { data, width, height, format: 'png' };
}

test('constant colour: every element is (v/255 − mean)/std exactly, per channel (NCHW)', async () => {
  const rgb: [number, number, number] = [30, 120, 210];
  const { data, shape } = await preprocess(constant(300, 260, rgb), IMAGENET);
  assert.deepEqual(shape, [1, 3, 224, 224]);
  for (let c = 0; c < 3; c++) {
    const expected = Math.fround(((rgb[c] ?? 0) / 255 - (IMAGENET.mean[c] ?? 0)) / (IMAGENET.std[c] ?? 1));
    const plane = data.subarray(c * 224 * 224, (c + 1) * 224 * 224);
    assert.ok(
      plane.every((v) => v === expected),
      `channel ${c}`,
    );
  }
});

test('NHWC layout interleaves channels; range [0, 255] skips the /255', async () => {
  const spec: PreprocessSpec = {
    ...IMAGENET,
    layout: 'NHWC',
    size: [8, 6],
    resize: { mode: 'resize' },
    mean: [100, 110, 120],
    std: [2, 4, 5],
    range: [0, 255],
  };
  const { data, shape } = await preprocess(constant(20, 10, [10, 20, 30]), spec);
  assert.deepEqual(shape, [1, 8, 6, 3]);
  assert.deepEqual([...data.subarray(0, 6)], [-45, -22.5, -18, -45, -22.5, -18]);
});

test('one channel uses PIL-style luma', async () => {
  const spec: PreprocessSpec = { ...IMAGENET, size: [4, 4], resize: { mode: 'resize' }, mean: [0.5], std: [0.5], channels: 1 };
  const { data, shape } = await preprocess(constant(4, 4, [255, 0, 0]), spec);
  assert.deepEqual(shape, [1, 1, 4, 4]);
  // PIL: L = R·299/1000 + … → 76 for pure red.
  assert.equal(data[0], Math.fround((76 / 255 - 0.5) / 0.5));
});

test('resize-crop geometry matches torchvision Resize(256) + CenterCrop(224)', () => {
  // 640×480: shorter side 480 → 256, longer int(256·640/480) = 341; left = round(117/2) = 58 (half to even).
  const g = computeGeometry(640, 480, IMAGENET);
  assert.deepEqual(g.resized, { width: 341, height: 256 });
  assert.deepEqual([g.offsetX, g.offsetY], [58, 16]);
  // Portrait 375×500: 256 × int(256·500/375) = 341.
  const p = computeGeometry(375, 500, IMAGENET);
  assert.deepEqual([p.resized.width, p.resized.height, p.offsetX, p.offsetY], [256, 341, 16, 58]);
  assert.deepEqual([roundHalfEven(58.5), roundHalfEven(57.5), roundHalfEven(-15.5), roundHalfEven(-16.5), roundHalfEven(2.4)], [58, 58, -16, -16, 2]);
});

test('pad mode letterboxes with padValue and records negative offsets', async () => {
  const spec: PreprocessSpec = { ...IMAGENET, size: [64, 64], resize: { mode: 'pad' }, padValue: 0 };
  const { data, geometry } = await preprocess(constant(100, 50, [255, 255, 255]), spec);
  assert.deepEqual(geometry.resized, { width: 64, height: 32 });
  assert.deepEqual([geometry.offsetX, geometry.offsetY], [0, -16]);
  const at = (c: number, y: number, x: number): number => data[c * 64 * 64 + y * 64 + x] ?? NaN;
  assert.equal(at(0, 0, 10), Math.fround((0 - 0.485) / 0.229)); // border
  assert.equal(at(0, 32, 10), Math.fround((1 - 0.485) / 0.229)); // image
});

test('a map projected back through resize-crop lands where the model saw it', () => {
  const g = computeGeometry(640, 480, IMAGENET);
  // The map's value is the resized-image x coordinate of each model pixel: a linear function,
  // which bilinear resampling reproduces exactly away from the crop edges.
  const map = new Float32Array(224 * 224).map((_, p) => (p % 224) + g.offsetX);
  const back = projectToOriginal(map, g);
  assert.equal(back.length, 640 * 480);
  const sx = g.resized.width / 640;
  for (const x of [120, 200, 320, 500]) {
    const expected = (x + 0.5) * sx - 0.5;
    assert.ok(Math.abs((back[240 * 640 + x] ?? NaN) - expected) < 1e-3, `x=${x}`);
  }
  // Columns the crop removed are NaN; rows are all covered (480 → 256 → crop 224 removes rows too).
  assert.ok(Number.isNaN(back[240 * 640 + 10] ?? 0));
  assert.ok(Number.isNaN(back[240 * 640 + 630] ?? 0));
  assert.ok(Number.isNaN(back[5 * 640 + 320] ?? 0));
  // A hot model pixel maps to the original pixel the round trip predicts.
  const spot = new Float32Array(224 * 224);
  spot[100 * 224 + 150] = 1;
  const projected = projectToOriginal(spot, g);
  let best = -1;
  let max = -Infinity;
  projected.forEach((v, i) => {
    if (v > max) [best, max] = [i, v];
  });
  const [bx, by] = [best % 640, Math.floor(best / 640)];
  assert.ok(Math.abs(bx - ((150 + g.offsetX + 0.5) * 640) / 341) <= 1.5, `x ${bx}`);
  assert.ok(Math.abs(by - ((100 + g.offsetY + 0.5) * 480) / 256) <= 1.5, `y ${by}`);
});

test('a bad spec is SALIENCY_BAD_PREPROCESS_SPEC', async () => {
  await assert.rejects(
    preprocess(constant(4, 4, [0, 0, 0]), { ...IMAGENET, mean: [0.5] }),
    (err: unknown) => err instanceof ImageError && err.code === 'SALIENCY_BAD_PREPROCESS_SPEC',
  );
  await assert.rejects(preprocess(constant(4, 4, [0, 0, 0]), { ...IMAGENET, std: [1, 0, 1] }), /std/);
});
