// Channel reduction, sign, percentile clipping and scaling, and render-option defaults.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImageError } from '../../src/imaging/errors.js';
import { reduceChannels, type Reduction, type Sign } from '../../src/imaging/reduce.js';
import { resolveRenderOptions } from '../../src/imaging/render-options.js';
import { clipAndScale, percentile } from '../../src/imaging/scale.js';

// One sample, three channels, two pixels: pixel 0 = (3, −4, 0), pixel 1 = (−1, −2, 6).
const RAW = { data: Float32Array.from([3, -1, -4, -2, 0, 6]), shape: [1, 3, 1, 2] };

const cases: [Reduction, Sign, [number, number]][] = [
  ['l2', 'abs', [5, Math.sqrt(41)]],
  ['l2', 'positive', [3, 6]],
  ['l2', 'negative', [4, Math.sqrt(5)]],
  ['abs-sum', 'abs', [7, 9]],
  ['abs-sum', 'negative', [4, 3]],
  ['abs-max', 'abs', [4, 6]],
  ['abs-max', 'positive', [3, 6]],
  ['sum', 'all', [-1, 3]],
  ['sum', 'abs', [1, 3]],
  ['sum', 'positive', [0, 3]],
  ['sum', 'negative', [1, 0]],
  ['mean', 'all', [-1 / 3, 1]],
];

for (const [reduce, sign, expected] of cases) {
  test(`reduce ${reduce} / sign ${sign}`, () => {
    const map = reduceChannels(RAW, reduce, sign);
    assert.deepEqual([map.width, map.height], [2, 1]);
    [...map.data].forEach((v, i) => assert.ok(Math.abs(v - (expected[i] ?? NaN)) < 1e-6, `${v} vs ${expected[i]}`));
  });
}

test('NHWC input and later samples reduce the same way', () => {
  const nhwc = { data: Float32Array.from([0, 0, 0, 0, 0, 0, 3, -4, 0, -1, -2, 6]), shape: [2, 1, 2, 3] };
  assert.deepEqual([...reduceChannels(nhwc, 'sum', 'all', 1, 'NHWC').data], [-1, 3]);
  assert.throws(
    () => reduceChannels(nhwc, 'sum', 'all', 2, 'NHWC'),
    (e: unknown) => e instanceof ImageError && e.code === 'SALIENCY_BAD_RENDER_PARAM',
  );
  assert.throws(() => reduceChannels({ data: new Float32Array(5), shape: [1, 1, 2, 3] }, 'l2', 'abs'), /does not match/);
});

test('percentile matches numpy.percentile (linear)', () => {
  const ten = Array.from({ length: 10 }, (_, i) => i + 1);
  assert.ok(Math.abs(percentile(ten, 99) - 9.91) < 1e-12);
  assert.equal(percentile([4, 1, 3, 2], 25), 1.75);
  assert.equal(percentile([0, 1, 2, 3, 4], 50), 2);
  assert.equal(percentile([5, NaN, 1], 100), 5);
});

test('unsigned: clip at the 99th percentile and scale per image', () => {
  const map = { data: Float32Array.from({ length: 100 }, (_, i) => i), width: 10, height: 10 };
  const s = clipAndScale(map, 99, 'image', false);
  assert.ok(Math.abs(s.clipValue - 98.01) < 1e-9);
  assert.equal(s.scale, s.clipValue);
  assert.equal(s.data[99], 1);
  assert.equal(s.data[98], Math.fround(98 / 98.01)); // just below the clip value
  assert.ok(Math.abs((s.data[49] ?? 0) - Math.fround(49 / 98.01)) < 1e-7);
  assert.equal(s.data[0], 0);
});

test('signed: two-sided clip by the percentile of |v|; fixed scale is reported as given', () => {
  const map = { data: Float32Array.from([-10, -2, 0, 1, 4]), width: 5, height: 1 };
  const s = clipAndScale(map, 75, 'image', true);
  assert.equal(s.clipValue, 4); // |v| = 10, 2, 0, 1, 4 → 75th percentile of [0,1,2,4,10] = 4
  assert.deepEqual([...s.data], [-1, -0.5, 0, 0.25, 1]);
  const fixed = clipAndScale(map, 100, 8, true);
  assert.deepEqual([fixed.clipValue, fixed.scale], [10, 8]);
  assert.deepEqual([...fixed.data], [-1, -0.25, 0, 0.125, 0.5]);
});

test('an all-zero map stays zero with scale 0', () => {
  const s = clipAndScale({ data: new Float32Array(4), width: 2, height: 2 }, 99, 'image', false);
  assert.equal(s.scale, 0);
  assert.deepEqual([...s.data], [0, 0, 0, 0]);
});

test('render defaults follow docs/methods.md per method kind', () => {
  assert.deepEqual(resolveRenderOptions('sensitivity'), {
    reduce: 'l2',
    sign: 'abs',
    clip: 99,
    scale: 'image',
    colormap: 'viridis',
    overlay: 0.5,
    size: 'original',
    scaling: 'service',
  });
  assert.deepEqual(resolveRenderOptions('attribution'), {
    reduce: 'sum',
    sign: 'all',
    clip: 99,
    scale: 'image',
    colormap: 'RdBu',
    overlay: 0.5,
    size: 'original',
    scaling: 'service',
  });
  // Coherent partial choices: sign 'all' alone implies a signed reduction; a magnitude reduction implies 'abs'.
  assert.equal(resolveRenderOptions('sensitivity', { sign: 'all' }).reduce, 'sum');
  assert.equal(resolveRenderOptions('sensitivity', { sign: 'all' }).colormap, 'RdBu');
  assert.equal(resolveRenderOptions('attribution', { reduce: 'l2' }).sign, 'abs');
  assert.equal(resolveRenderOptions('attribution', { sign: 'positive' }).colormap, 'viridis');
  // Query-string values.
  const q = resolveRenderOptions('sensitivity', { clip: '99.5', scale: '0.02', overlay: '0.3', colormap: 'rdbu', size: 'input' });
  assert.deepEqual([q.clip, q.scale, q.overlay, q.colormap, q.size], [99.5, 0.02, 0.3, 'RdBu', 'input']);
  assert.equal(resolveRenderOptions('sensitivity', { colormap: 'jet' }).colormap, 'jet');
});

test('bad render parameters are SALIENCY_BAD_RENDER_PARAM and say what is allowed', () => {
  const bad: [Parameters<typeof resolveRenderOptions>[1], RegExp][] = [
    [{ reduce: 'max' }, /reduce must be one of 'l2', 'abs-sum', 'abs-max', 'sum', 'mean'/],
    [{ colormap: 'rainbow' }, /colormap must be one of .*'viridis'.*'vik'/],
    [{ clip: 0 }, /clip must be a percentile in \(0, 100\]/],
    [{ clip: 'lots' }, /clip must be a number/],
    [{ scale: -1 }, /scale must be 'image' or a positive number/],
    [{ overlay: 2 }, /overlay is an opacity in \[0, 1\]/],
    [{ size: 'huge' }, /size must be one of 'input', 'original'/],
    [{ reduce: 'l2', sign: 'all' }, /sign 'all' keeps negative values/],
    [{ colour: 'red' } as never, /unknown render parameter 'colour'/],
  ];
  for (const [params, message] of bad) {
    assert.throws(
      () => resolveRenderOptions('sensitivity', params),
      (e: unknown) => e instanceof ImageError && e.code === 'SALIENCY_BAD_RENDER_PARAM' && message.test(e.message),
      JSON.stringify(params),
    );
  }
});
