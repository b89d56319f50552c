// Comparison and sweep figures: layout arithmetic, panels placed unchanged, titles drawn.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { type DecodedImage } from '../../src/imaging/decode.js';
import { LEGEND_HEIGHT, renderComparisonGrid, renderSweepGrid, tickLabel } from '../../src/imaging/grid.js';
import { escapeXml } from '../../src/imaging/svg-text.js';

function solidPng(size: number, r: number, g: number, b: number): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: { r, g, b } } })
    .png()
    .toBuffer();
}

async function raw(png: Buffer): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

function at(img: { data: Buffer; width: number }, x: number, y: number): number[] {
  const i = 3 * (y * img.width + x);
  return [...img.data.subarray(i, i + 3)];
}

/** Dark pixels in a band: text was rasterised there. */
function inked(img: { data: Buffer; width: number }, x0: number, y0: number, w: number, h: number): number {
  let n = 0;
  for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) if ((at(img, x, y)[0] ?? 255) < 128) n++;
  return n;
}

test('comparison grid: original then maps, each titled', async () => {
  const original: DecodedImage = { data: new Uint8Array(64 * 64 * 3).fill(200), width: 64, height: 64, format: 'png' };
  const maps = [
    { title: 'SmoothGrad n=50', png: await solidPng(64, 255, 0, 0) },
    { title: 'SmoothDiff <n=10> & more', png: await solidPng(64, 0, 0, 255) },
  ];
  const grid = await raw(await renderComparisonGrid(original, maps, { panelSize: 64, gap: 8, labelHeight: 20 }));
  assert.deepEqual([grid.width, grid.height], [3 * 64 + 4 * 8, 20 + 64 + 16]);
  const panelTop = 8 + 20;
  assert.deepEqual(at(grid, 8 + 32, panelTop + 32), [200, 200, 200]);
  assert.deepEqual(at(grid, 8 + 72 + 32, panelTop + 32), [255, 0, 0]);
  assert.deepEqual(at(grid, 8 + 144 + 32, panelTop + 32), [0, 0, 255]);
  for (let i = 0; i < 3; i++) assert.ok(inked(grid, 8 + i * 72, 8, 64, 20) > 10, `title ${i} drawn`);
});

test('sweep grid: rows = noise levels, columns = sample counts, labelled', async () => {
  const noise = ['σ 0.05', 'σ 0.15'];
  const samples = ['n 10', 'n 20', 'n 50'];
  const cells = await Promise.all(noise.map((_, r) => Promise.all(samples.map((__, c) => solidPng(32, 40 * r, 60 * c, 100)))));
  const grid = await raw(await renderSweepGrid({ rowLabels: noise, columnLabels: samples, cells }, { panelSize: 32, gap: 4, labelHeight: 16 }));
  assert.deepEqual([grid.width, grid.height], [32 + 3 * 36 + 4, 16 + 2 * 36 + 4]);
  for (let r = 0; r < 2; r++) {
    for (let c = 0; c < 3; c++) assert.deepEqual(at(grid, 32 + 4 + c * 36 + 16, 16 + 4 + r * 36 + 16), [40 * r, 60 * c, 100]);
  }
  assert.ok(inked(grid, 36, 0, 32, 16) > 5, 'column label drawn');
  assert.ok(inked(grid, 0, 20, 32, 32) > 5, 'row label drawn');
  await assert.rejects(renderSweepGrid({ rowLabels: noise, columnLabels: samples, cells: [] }), /2×3 cells/);
});

test('titles are escaped, never markup', () => {
  assert.equal(escapeXml(`<script>&"'`), '&lt;script&gt;&amp;&quot;&apos;');
});

test('every map panel carries its colour bar, with its range in numbers', async () => {
  const original: DecodedImage = { data: new Uint8Array(64 * 64 * 3).fill(200), width: 64, height: 64, format: 'png' };
  const maps = [
    { title: 'gradient', png: await solidPng(64, 255, 0, 0), legend: { colormap: 'viridis' as const, low: 0, high: 0.25 } },
    { title: 'integrated-gradients', png: await solidPng(64, 0, 0, 255), legend: { colormap: 'RdBu' as const, low: -3, high: 3 } },
  ];
  const grid = await raw(await renderComparisonGrid(original, maps, { panelSize: 64, gap: 8, labelHeight: 20 }));
  assert.deepEqual([grid.width, grid.height], [3 * 64 + 4 * 8, 20 + 64 + 16 + LEGEND_HEIGHT + 8]);
  const barTop = 8 + 20 + 64 + 8 + 2;
  assert.deepEqual(at(grid, 8 + 72, barTop), [68, 1, 84], "viridis's low end under the first map");
  assert.deepEqual(at(grid, 8 + 72 + 63, barTop), [253, 231, 37], "viridis's high end");
  const middle = at(grid, 8 + 144 + 32, barTop); // an even-width bar has no centre pixel: one step off
  assert.ok(
    middle.every((v) => Math.abs(v - 247) <= 6),
    `RdBu's white zero in the middle of the second bar, got ${middle.join(',')}`,
  );
  assert.deepEqual(at(grid, 8 + 32, barTop), [255, 255, 255], 'no bar under the original');
  assert.ok(inked(grid, 8 + 72, barTop + 8, 64, LEGEND_HEIGHT - 8) > 5, 'tick numbers drawn');
  assert.deepEqual(['0', '0.25', '-3', '1.2e-5', '4.6e+3'], [0, 0.25, -3, 0.0000123, 4567].map(tickLabel));
});

test('sweep cells carry their colour bars', async () => {
  const cells = [[await solidPng(32, 10, 20, 30)]];
  const legends = [[{ colormap: 'inferno' as const, low: 0, high: 1 }]];
  const grid = await raw(await renderSweepGrid({ rowLabels: ['σ 0.1'], columnLabels: ['n 10'], cells, legends }, { panelSize: 32, gap: 4, labelHeight: 16 }));
  assert.deepEqual([grid.width, grid.height], [32 + 36 + 4, 16 + 32 + LEGEND_HEIGHT + 4 + 4 + 4]);
  assert.deepEqual(at(grid, 36, 16 + 4 + 32 + 4 + 2), [0, 0, 4], "inferno's low end");
  await assert.rejects(renderSweepGrid({ rowLabels: ['a'], columnLabels: ['b'], cells, legends: [] }), /1×1 legends/);
});
