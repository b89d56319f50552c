// Models with symbolic spatial dimensions ([N,3,H,W]) take their size from what is explained: the
// CLI's --input .npy (explain) or --input-shape (compile), the manifest in the service; and the
// compile cache keeps one entry per input shape. Fixture: forms-spatial-op13 from
// tools/fixtures/make_opset_fixtures.py (same weights as the other forms-* files).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeNpy, encodeNpy } from '../../src/imaging/npy.js';
import { cachedBatching, readCachedFacts, writeCachedFacts } from '../../src/models/compile-cache.js';
import { perSample } from '../helpers/compare.js';
import { CLI, FIXTURES } from '../helpers/paths.js';

const work = mkdtempSync(join(tmpdir(), 'saliency-shapes-'));
after(() => rmSync(work, { recursive: true, force: true }));

const dir = join(FIXTURES, 'opsets');
const MODEL = join(dir, 'forms-spatial-op13.onnx');
const X = join(dir, 'forms.x.npy');

function saliency(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('compile sizes a [N,3,H,W] model from --input-shape, with or without the batch', () => {
  for (const shape of ['1,3,16,16', '3,20,24']) {
    const r = saliency('compile', '--model', MODEL, '--output', join(work, 'g.onnx'), '--input-shape', shape);
    assert.equal(r.code, 0, r.stderr);
  }
  const missing = saliency('compile', '--model', MODEL, '--output', join(work, 'h.onnx'));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /symbolic dimensions \[N,3,H,W\]; pass the input shape .*--input-shape/);
  assert.equal(missing.stderr.trim().split('\n').length, 1);
  const wrong = saliency('compile', '--model', MODEL, '--output', join(work, 'i.onnx'), '--input-shape', '4,16,16');
  assert.match(wrong.stderr, /does not fit input input: the model expects \[N,3,H,W\]/);
});

test('explain sizes a [N,3,H,W] model from the input .npy, and its gradient matches float64 PyTorch', () => {
  const out = join(work, 'a.npy');
  const r = saliency('explain', '--model', MODEL, '--input', X, '--target', '3,7', '--output', out);
  assert.equal(r.code, 0, r.stderr);
  const got = decodeNpy(readFileSync(out));
  const want = decodeNpy(readFileSync(join(dir, 'forms.grad64.npy')));
  assert.deepEqual(got.shape, want.shape);
  perSample(got.data, want.data, 2).forEach(({ cosine, relErr }, s) =>
    assert.ok(cosine >= 0.9999 && relErr <= 1e-3, `sample ${s}: cosine ${cosine}, relative L2 error ${relErr}`),
  );

  // Another size: the same model, probed and compiled at 20x24.
  const other = join(work, 'x20x24.npy');
  writeFileSync(other, encodeNpy({ data: Float32Array.from({ length: 3 * 20 * 24 }, (_, i) => Math.sin(i)), shape: [1, 3, 20, 24] }));
  const r2 = saliency('explain', '--model', MODEL, '--input', other, '--method', 'integrated-gradients', '--steps', '4', '--output', join(work, 'b.npy'));
  assert.equal(r2.code, 0, r2.stderr);
  assert.deepEqual(decodeNpy(readFileSync(join(work, 'b.npy'))).shape, [1, 3, 20, 24]);
});

test('the compile cache keeps one entry per input shape', () => {
  const cache = join(work, 'cache');
  const facts = (h: number) => ({ shapes: new Map([['input', ['N', 3, h, h] as (string | number)[]]]), values: new Map(), types: new Map([['input', 1]]) });
  writeCachedFacts(cache, 'abc', facts(16), [3, 16, 16]);
  writeCachedFacts(cache, 'abc', facts(20), [3, 20, 20]);
  assert.deepEqual(readCachedFacts(cache, 'abc', [3, 16, 16])?.shapes.get('input'), ['N', 3, 16, 16]);
  assert.deepEqual(readCachedFacts(cache, 'abc', [3, 20, 20])?.shapes.get('input'), ['N', 3, 20, 20]);
  assert.equal(readCachedFacts(cache, 'abc', [3, 24, 24]), undefined);
  writeCachedFacts(cache, 'fixed', facts(16), [3, 16, 16], 'fixed');
  assert.equal(cachedBatching(cache, 'fixed', [3, 16, 16]), 'fixed');
  assert.equal(cachedBatching(cache, 'abc', [3, 16, 16]), undefined);
});
