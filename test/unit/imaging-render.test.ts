// Golden PNGs for every colormap and every reduction on a small deterministic map, plus the
// numbers a client sees (scale, clip value) and the colours that carry meaning (zero, extremes).
// Regenerate with UPDATE_GOLDENS=1 and look at the images before committing them.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { COLORMAPS, DIVERGING_COLORMAPS, getLut, type ColormapName } from '../../src/imaging/colormaps.js';
import { type DecodedImage } from '../../src/imaging/decode.js';
import { computeGeometry } from '../../src/imaging/geometry.js';
import { REDUCTIONS, reduceChannels, type Reduction, type Sign } from '../../src/imaging/reduce.js';
import { resolveRenderOptions, type RenderParams } from '../../src/imaging/render-options.js';
import { renderColourBar, renderHeatmap, renderMap, renderOverlay, type RenderSource } from '../../src/imaging/render.js';
import { percentile } from '../../src/imaging/scale.js';
import { FIXTURES } from '../helpers/paths.js';

const GOLDENS = join(FIXTURES, 'rendering');
const UPDATE = process.env.UPDATE_GOLDENS === '1';

/**
 * [2, 3, 16, 16]: signed ramps that differ per channel and sample, plus a small integer texture.
 * Sample 0's ramps cancel in a channel sum (only texture is left); the goldens use sample 1.
 */
function syntheticRaw(): RenderSource['raw'] {
  const data = new Float32Array(2 * 3 * 16 * 16);
  let i = 0;
  for (let n = 0; n < 2; n++) {
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 16; y++) {
        for (let x = 0; x < 16; x++) {
          const ramp = ((x - 7.5) * (c - 1 + 0.5 * n) + (y - 7.5) * (c === 2 ? -1 : 0.5)) / 8;
          data[i++] = ramp + (((x * 7 + y * 13 + c * 5 + n * 3) % 11) - 5) / 20;
        }
      }
    }
  }
  return { data, shape: [2, 3, 16, 16] };
}

const RAW = syntheticRaw();

async function pixels(png: Uint8Array): Promise<{ data: Buffer; info: sharp.OutputInfo }> {
  return sharp(png).raw().toBuffer({ resolveWithObject: true });
}

async function matchesGolden(name: string, png: Buffer): Promise<void> {
  const path = join(GOLDENS, name);
  if (UPDATE || !existsSync(path)) {
    assert.ok(UPDATE, `golden ${name} is missing; run with UPDATE_GOLDENS=1 and review it`);
    writeFileSync(path, png);
    return;
  }
  const [actual, expected] = await Promise.all([pixels(png), pixels(readFileSync(path))]);
  assert.deepEqual([actual.info.width, actual.info.height, actual.info.channels], [expected.info.width, expected.info.height, expected.info.channels]);
  assert.ok(actual.data.equals(expected.data), `${name}: pixels differ from the golden`);
}

for (const colormap of COLORMAPS) {
  test(`golden heatmap: colormap ${colormap}`, async () => {
    const kind = (DIVERGING_COLORMAPS as readonly string[]).includes(colormap) ? 'attribution' : 'sensitivity';
    const options = resolveRenderOptions(kind, { colormap, size: 'input' });
    const result = await renderHeatmap({ raw: RAW, sample: 1 }, options);
    assert.deepEqual([result.width, result.height], [16, 16]);
    await matchesGolden(`colormap-${colormap}.png`, result.png);
    await matchesGolden(`colourbar-${colormap}.png`, await renderColourBar(colormap, { width: 64, height: 4 }));
  });
}

const reductions: [Reduction, Sign][] = [
  ...REDUCTIONS.map((r): [Reduction, Sign] => [r, r === 'sum' || r === 'mean' ? 'all' : 'abs']),
  ['sum', 'positive'],
  ['sum', 'negative'],
  ['l2', 'negative'],
];

for (const [reduce, sign] of reductions) {
  test(`golden heatmap: reduce ${reduce}, sign ${sign}`, async () => {
    const options = resolveRenderOptions('attribution', { reduce, sign, size: 'input' });
    const result = await renderHeatmap({ raw: RAW, sample: 1 }, options);
    await matchesGolden(`reduce-${reduce}-${sign}.png`, result.png);
    // The reported scale is the 99th percentile of the reduced map (of |v| when signed).
    const map = reduceChannels(RAW, reduce, sign, 1);
    const values = sign === 'all' ? map.data.map(Math.abs) : map.data;
    assert.equal(result.scale, percentile(values, 99));
  });
}

/** A 40×30 image with a horizontal brightness ramp and a dark square, so overlays show structure. */
function syntheticImage(): DecodedImage {
  const width = 40;
  const height = 30;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const dark = x >= 10 && x < 18 && y >= 8 && y < 16;
      data.set(dark ? [20, 30, 40] : [40 + 5 * x, 120, 200 - 4 * y], 3 * (y * width + x));
    }
  }
  return { data, width, height, format: 'png' };
}

const GEOMETRY = computeGeometry(40, 30, {
  layout: 'NCHW',
  size: [16, 16],
  resize: { mode: 'resize-crop', shorter: 20 },
  mean: [0, 0, 0],
  std: [1, 1, 1],
  range: [0, 1],
  channels: 3,
});

test('golden overlay and heatmap at the original size (projected through resize-crop)', async () => {
  const image = syntheticImage();
  const options = resolveRenderOptions('attribution', {});
  const overlay = await renderOverlay({ raw: RAW, sample: 1, geometry: GEOMETRY }, image, options);
  assert.deepEqual([overlay.width, overlay.height], [40, 30]);
  await matchesGolden('overlay-original-RdBu.png', overlay.png);
  const heatmap = await renderHeatmap({ raw: RAW, sample: 1, geometry: GEOMETRY }, resolveRenderOptions('sensitivity', {}));
  await matchesGolden('heatmap-original-viridis.png', heatmap.png);
  // Borders the centre crop removed (26×20 resized → 16×16 at offset 5, 2) are transparent in the
  // heatmap and plain grey in the overlay; the centre is opaque.
  const { data, info } = await pixels(heatmap.png);
  assert.equal(info.channels, 4);
  assert.equal(data[3], 0);
  assert.equal(data[4 * (15 * 40 + 20) + 3], 255);
  const grey = await pixels(overlay.png);
  assert.equal(grey.data[0], grey.data[1]);
  assert.equal(grey.data[1], grey.data[2]);
});

test('golden overlay at the input size (backdrop is the model view)', async () => {
  const options = resolveRenderOptions('sensitivity', { size: 'input', overlay: 0.7, colormap: 'inferno' });
  const overlay = await renderOverlay({ raw: RAW, sample: 1, geometry: GEOMETRY }, syntheticImage(), options);
  assert.deepEqual([overlay.width, overlay.height], [16, 16]);
  await matchesGolden('overlay-input-inferno.png', overlay.png);
});

test('colours that carry meaning: zero is the diverging centre, positive is red, the max is the top colour', async () => {
  const raw = { data: Float32Array.from([-2, 0, 2, 1]), shape: [1, 1, 1, 4] };
  const rdbu = await pixels((await renderHeatmap({ raw }, resolveRenderOptions('attribution', { size: 'input', clip: 100 }))).png);
  const at = (p: number): number[] => [...rdbu.data.subarray(4 * p, 4 * p + 3)];
  assert.deepEqual(at(1), [247, 247, 247]); // ColorBrewer's white centre
  assert.deepEqual(at(2), [103, 0, 31]); // +max: darkest red
  assert.deepEqual(at(0), [5, 48, 97]); // −max: darkest blue
  const vik = await pixels((await renderHeatmap({ raw }, resolveRenderOptions('attribution', { size: 'input', clip: 100, colormap: 'vik' }))).png);
  assert.deepEqual([...vik.data.subarray(8, 11)], [89, 0, 8]); // vik's red-brown end is positive
  const lut = (name: ColormapName): number[] => [...getLut(name).subarray(255 * 3, 256 * 3)];
  const viridis = await pixels((await renderHeatmap({ raw }, resolveRenderOptions('sensitivity', { size: 'input', clip: 100 }))).png);
  assert.deepEqual([...viridis.data.subarray(8, 11)], lut('viridis'));
  assert.deepEqual(lut('viridis'), [253, 231, 37]);
});

test('map export: clipped values in attribution units, with the scale', () => {
  const exported = renderMap({ raw: RAW }, resolveRenderOptions('attribution', { clip: 90 }));
  assert.equal(exported.values.length, 16);
  assert.equal(exported.values[0]?.length, 16);
  assert.equal(exported.signed, true);
  const flat = exported.values.flat();
  assert.ok(flat.every((v) => Math.abs(v) <= exported.clipValue));
  assert.ok(flat.some((v) => v === exported.clipValue) && flat.some((v) => v === -exported.clipValue));
});

test("size 'original' without a geometry says to use 'input'", async () => {
  await assert.rejects(renderHeatmap({ raw: RAW }, resolveRenderOptions('sensitivity', {} as RenderParams)), /use size 'input'/);
});
