// The parity presets' renderings against NumPy reimplementations of each library's visualiser
// (tools/fixtures/make_preset_fixtures.py): Captum's visualize_image_attr, PAIR's
// VisualizeImageGrayscale and VisualizeImageDiverging, Xplique's plot_attributions. The scaled
// float map must agree, and the heatmap PNG must be pixel-exact: the colormap entry round(255·t)
// of the unit value t (the library's value itself, or (y + 1)/2 for a signed map y on RdBu).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { colourAt, getLut } from '../../src/imaging/colormaps.js';
import { decodeNpy } from '../../src/imaging/npy.js';
import { isSignedMap, reduceChannels, type Sign } from '../../src/imaging/reduce.js';
import { renderHeatmap } from '../../src/imaging/render.js';
import { resolveRenderOptions } from '../../src/imaging/render-options.js';
import { clipAndScale, cumulativeThreshold, keepsSign, type Scaling } from '../../src/imaging/scale.js';
import { FIXTURES } from '../helpers/paths.js';

interface Rendering {
  preset: Exclude<Scaling, 'service'>;
  sign: 'abs' | 'all' | 'positive' | 'negative';
  source: string;
  expected: string;
}
const dir = join(FIXTURES, 'presets');
const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { renderings: Rendering[] };

test('each preset sets its visualiser defaults', () => {
  assert.deepEqual(pick(resolveRenderOptions('sensitivity', {}, 'captum')), { reduce: 'sum', sign: 'abs', clip: 98, scaling: 'captum', colormap: 'viridis' });
  assert.deepEqual(pick(resolveRenderOptions('attribution', {}, 'pair')), { reduce: 'abs-sum', sign: 'abs', clip: 99, scaling: 'pair', colormap: 'viridis' });
  assert.deepEqual(pick(resolveRenderOptions('attribution', {}, 'xplique')), {
    reduce: 'mean',
    sign: 'all',
    clip: 99.9,
    scaling: 'xplique',
    colormap: 'viridis',
  });
  // Asked explicitly, a parameter still wins; a fixed scale has no meaning under a min-max scaling.
  assert.equal(resolveRenderOptions('sensitivity', { clip: 95 }, 'captum').clip, 95);
  assert.equal(resolveRenderOptions('sensitivity', { scaling: 'service' }, 'captum').reduce, 'l2');
  assert.throws(() => resolveRenderOptions('sensitivity', { scale: 2 }, 'xplique'), /fixed scale/);
});

test("Captum's cumulative threshold is the first sorted value reaching p % of the total", () => {
  assert.equal(cumulativeThreshold([4, 1, 3, 2], 60), 3); // running sums 1, 3, 6 ≥ 6
  assert.equal(cumulativeThreshold([4, 1, 3, 2], 100), 4);
});

test("PAIR's diverging scaling is (v + s) / 2s clamped to [−1, 1]: zero at 0.5, only v ≤ −3s saturates low", () => {
  const map = { data: Float32Array.of(-16, -12, -4, 0, 2, 4), width: 6, height: 1 };
  const scaled = clipAndScale(map, 100, 'image', true, 'pair'); // s = p100 = 4
  assert.deepEqual(Array.from(scaled.data), [-1, -1, 0, 0.5, 0.75, 1]);
  assert.deepEqual([scaled.offset, scaled.scale, scaled.clipValue], [-4, 8, 4]);
});

for (const r of index.renderings) {
  test(`${r.preset} sign ${r.sign}: the scaled map and the gray PNG match the library's visualiser`, async () => {
    const src = decodeNpy(readFileSync(join(dir, r.source)));
    const [, C = 1, H = 1, W = 1] = src.shape;
    const raw = { data: src.data.subarray(0, C * H * W), shape: [1, C, H, W] };
    const expected = decodeNpy(readFileSync(join(dir, r.expected))).data;
    // Signed maps are only drawn on diverging colormaps: for them the float map is compared.
    const signedMap = r.sign === 'all' && r.preset !== 'xplique';
    const o = resolveRenderOptions('attribution', { sign: r.sign as Sign, colormap: signedMap ? 'RdBu' : 'gray', size: 'input' }, r.preset);
    const map = reduceChannels(raw, o.reduce, o.sign);
    const signed = keepsSign(isSignedMap(o.reduce, o.sign), o.scaling);
    const scaled = clipAndScale(map, o.clip, o.scale, signed, o.scaling);
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs((scaled.data[i] as number) - (expected[i] as number)));
    assert.ok(worst <= 1e-5, `largest difference ${worst}`);

    const png = (await renderHeatmap({ raw }, o)).png;
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const lut = getLut(o.colormap);
    let off = 0;
    for (let i = 0; i < expected.length; i++) {
      const y = expected[i] as number;
      const want = colourAt(lut, signedMap ? (y + 1) / 2 : y);
      if (want.some((v, c) => data[i * info.channels + c] !== v)) off++;
    }
    assert.equal(off, 0, `${off} of ${expected.length} pixels differ`);
  });
}

function pick(o: ReturnType<typeof resolveRenderOptions>) {
  return { reduce: o.reduce, sign: o.sign, clip: o.clip, scaling: o.scaling, colormap: o.colormap };
}
