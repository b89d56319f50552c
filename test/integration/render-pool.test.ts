// The render pool: real worker threads and sharp. Same pictures as rendering in place, coded
// errors cross the thread boundary, the waiting line is bounded, and the size cap applies.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { computeGeometry } from '../../src/imaging/geometry.js';
import { ImageError } from '../../src/imaging/errors.js';
import { RenderBusyError, RenderPool } from '../../src/imaging/render-pool.js';
import { resolveRenderOptions } from '../../src/imaging/render-options.js';
import { renderHeatmap, renderMap, type RenderSource } from '../../src/imaging/render.js';

const raw = { data: Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => Math.sin(i / 17)), shape: [1, 3, 32, 32] };
const pool = new RenderPool({ threads: 1, maxPixels: 10_000, limitInputPixels: 40_000_000, queuePerThread: 1 });
after(async () => pool.close());

/** Where a 32×32 attribution lands on an original of width × height (resized, NCHW, [0, 1]). */
const geometryFor = (width: number, height: number) =>
  computeGeometry(width, height, { size: [32, 32], resize: { mode: 'resize' }, layout: 'NCHW', channels: 3, range: [0, 1], mean: [0, 0, 0], std: [1, 1, 1] });

test('a pooled heatmap and map are the ones rendered in place', async () => {
  const options = resolveRenderOptions('attribution', { size: 'input', colormap: 'vik' });
  const pooled = await pool.png('heatmap', { raw }, options);
  const direct = await renderHeatmap({ raw }, options);
  assert.deepEqual(pooled.png, direct.png);
  assert.equal(pooled.scale, direct.scale);
  assert.deepEqual(await pool.map({ raw }, options), renderMap({ raw }, options));
});

test('size original is capped at maxPixels keeping the aspect ratio; overlays decode the original in the thread', async () => {
  const geometry = geometryFor(400, 250);
  const source: RenderSource = { raw, geometry };
  const original = await sharp({ create: { width: 400, height: 250, channels: 3, background: { r: 10, g: 200, b: 30 } } })
    .png()
    .toBuffer();
  const overlay = await pool.png('overlay', source, resolveRenderOptions('sensitivity', {}), original);
  assert.ok(overlay.width * overlay.height <= 10_000 && overlay.width * overlay.height > 9_800, `${overlay.width}×${overlay.height}`);
  assert.ok(Math.abs(overlay.width / overlay.height - 1.6) < 0.02);
  const meta = await sharp(overlay.png).metadata();
  assert.deepEqual([meta.width, meta.height], [overlay.width, overlay.height]);
});

test('errors keep their code across the thread; a full waiting line is RenderBusyError at once', async () => {
  await assert.rejects(
    pool.png(
      'overlay',
      {
        raw,
        geometry: geometryFor(40, 40),
      },
      resolveRenderOptions('sensitivity', {}),
      Buffer.from('not an image'),
    ),
    (err: unknown) => err instanceof ImageError && err.code === 'SALIENCY_IMAGE_UNREADABLE',
  );
  const options = resolveRenderOptions('sensitivity', { size: 'input' });
  const results = await Promise.allSettled(Array.from({ length: 5 }, () => pool.png('heatmap', { raw }, options)));
  // One thread, one waiting: the first two render, the other three are turned away.
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'fulfilled', 'rejected', 'rejected', 'rejected'],
  );
  assert.ok(results.slice(2).every((r) => r.status === 'rejected' && r.reason instanceof RenderBusyError));
  // And it keeps working.
  assert.equal((await pool.png('heatmap', { raw }, options)).width, 32);
});

test('close() lets the rendering in hand finish, refuses the waiting ones, and ends the threads', async () => {
  const own = new RenderPool({ threads: 1, maxPixels: 4_000_000, limitInputPixels: 40_000_000, queuePerThread: 2 });
  const big = await sharp({ create: { width: 1600, height: 1200, channels: 3, background: { r: 90, g: 20, b: 200 } } })
    .png()
    .toBuffer();
  const geometry = geometryFor(1600, 1200);
  const options = resolveRenderOptions('sensitivity', { size: 'original' });
  const inHand = own.png('overlay', { raw, geometry }, options, big);
  const waiting = own.png('overlay', { raw, geometry }, options, big);
  // The first task was posted to the thread already: it reads it before the close that follows.
  const closed = own.close();
  const [first, second] = await Promise.allSettled([inHand, waiting]);
  assert.equal(first.status, 'fulfilled', 'the rendering in hand is answered');
  assert.ok(second.status === 'rejected' && second.reason instanceof RenderBusyError);
  await closed;
  await assert.rejects(own.png('heatmap', { raw }, options), RenderBusyError);
});
