// The colour maps against their published data (test/fixtures/colormaps/reference.json, written
// by tools/colormaps/make_tables.py from matplotlib's and Crameri's tables): every entry is the
// nearest 8-bit value (the fixture keeps 6 decimals, hence 0.5 + 1e-3); RdBu, whose halves are interpolated separately so zero is exactly white,
// stays within 2 levels of matplotlib's RdBu_r. Also: the page and the server read one table.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { COLORMAPS, getLut, type ColormapName } from '../../src/imaging/colormaps.js';
import { resolveRenderOptions } from '../../src/imaging/render-options.js';
import { FIXTURES } from '../helpers/paths.js';

const reference = JSON.parse(readFileSync(join(FIXTURES, 'colormaps', 'reference.json'), 'utf8')) as Record<string, number[][]>;

function worstError(name: ColormapName, rows: number[][]): number {
  const lut = getLut(name);
  let worst = 0;
  rows.forEach((row, i) => row.forEach((v, c) => (worst = Math.max(worst, Math.abs((lut[3 * i + c] ?? NaN) - 255 * v)))));
  return worst;
}

for (const name of ['viridis', 'inferno', 'magma', 'batlow', 'vik', 'jet'] as const) {
  test(`${name}: all 256 entries are the published values rounded to 8 bits`, () => {
    const rows = reference[name];
    assert.equal(rows?.length, 256);
    assert.ok(worstError(name, rows) <= 0.5 + 1e-3, `${name}: off by ${worstError(name, rows).toFixed(2)} levels`);
  });
}

test("matplotlib's viridis end points, as matplotlib publishes them", () => {
  const lut = getLut('viridis');
  assert.deepEqual([...lut.subarray(0, 3)], [68, 1, 84]);
  assert.deepEqual([...lut.subarray(765, 768)], [253, 231, 37]);
});

test('RdBu: ColorBrewer ends, white at both central entries, within 2 levels of matplotlib everywhere', () => {
  const lut = getLut('RdBu');
  assert.deepEqual([...lut.subarray(0, 3)], [5, 48, 97]);
  assert.deepEqual([...lut.subarray(765, 768)], [103, 0, 31]);
  assert.deepEqual([...lut.subarray(127 * 3, 128 * 3)], [247, 247, 247]);
  assert.deepEqual([...lut.subarray(128 * 3, 129 * 3)], [247, 247, 247]);
  assert.ok(worstError('RdBu', reference['RdBu'] ?? []) <= 2);
});

test('gray is the identity and every map has 256 entries', () => {
  for (const name of COLORMAPS) assert.equal(getLut(name).length, 768, name);
  const gray = getLut('gray');
  for (let i = 0; i < 256; i++) assert.deepEqual([...gray.subarray(3 * i, 3 * i + 3)], [i, i, i]);
});

test('signed maps are only drawn on diverging colour maps', () => {
  assert.throws(() => resolveRenderOptions('attribution', { colormap: 'viridis' }), /diverging colormap centred at zero.*'RdBu' or 'vik'/);
  assert.throws(() => resolveRenderOptions('sensitivity', { sign: 'all', colormap: 'jet' }), /SALIENCY_BAD_RENDER_PARAM|diverging/);
  assert.equal(resolveRenderOptions('attribution', { colormap: 'vik' }).colormap, 'vik');
  assert.equal(resolveRenderOptions('attribution', { sign: 'abs', colormap: 'inferno' }).colormap, 'inferno');
});
