// The .npy codec: round trips over awkward shapes, the error paths, and (where Debian's python3
// with numpy exists) numpy reading our files and us reading numpy's.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeNpy, encodeNpy, NpyError } from '../../src/imaging/npy.js';
import { ROOT } from '../helpers/paths.js';

const PYTHON = '/usr/bin/python3';
const CHECK = join(ROOT, 'tools', 'fixtures', 'check_npy.py');
const hasNumpy = spawnSync(PYTHON, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

function values(count: number): Float32Array {
  // Exactly representable, signed, and including values whose bytes are not all zero.
  return Float32Array.from({ length: count }, (_, i) => (i % 2 === 0 ? 1 : -1) * (i / 8 + 0.1));
}

const SHAPES: number[][] = [[2, 3, 16, 16], [7], [1, 1, 1], [3, 1, 5], [0], [2, 0, 3], [], [1, 100_003]];

for (const shape of SHAPES) {
  test(`round trip shape [${shape.join(', ')}]`, () => {
    const count = shape.reduce((a, b) => a * b, 1);
    const data = values(count);
    const bytes = encodeNpy({ data, shape });
    const headerLength = (bytes[8] ?? 0) + 256 * (bytes[9] ?? 0);
    assert.equal((10 + headerLength) % 64, 0, 'data starts on a 64-byte boundary');
    const back = decodeNpy(bytes);
    assert.deepEqual(back.shape, shape);
    assert.deepEqual(back.data, data);
  });
}

test('a header longer than 255 bytes (many dimensions) round-trips', () => {
  const shape = Array.from({ length: 90 }, (_, i) => (i === 89 ? 2 : 1));
  const bytes = encodeNpy({ data: Float32Array.from([1.5, -2.5]), shape });
  assert.ok((bytes[9] ?? 0) > 0, 'header length needs the second byte');
  assert.deepEqual(decodeNpy(bytes).shape, shape);
});

test('a subarray view encodes only its own elements', () => {
  const big = values(20);
  const view = big.subarray(5, 11);
  assert.deepEqual(decodeNpy(encodeNpy({ data: view, shape: [2, 3] })).data, Float32Array.from(view));
});

test('format 2.0 headers and unaligned data offsets decode', () => {
  const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n";
  const bytes = new Uint8Array(12 + header.length + 12);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0]);
  new DataView(bytes.buffer).setUint32(8, header.length, true);
  bytes.set(new TextEncoder().encode(header), 12);
  bytes.set(new Uint8Array(Float32Array.from([1, 2, 3]).buffer), 12 + header.length);
  assert.deepEqual(decodeNpy(bytes), { data: Float32Array.from([1, 2, 3]), shape: [3] });
});

test('errors say what is wrong', () => {
  const good = encodeNpy({ data: Float32Array.from([1, 2]), shape: [2] });
  const text = (bytes: Uint8Array): string => new TextDecoder('latin1').decode(bytes);
  const patch = (from: string, to: string): Uint8Array => new Uint8Array(Buffer.from(text(good).replace(from, to), 'latin1'));
  assert.throws(() => decodeNpy(new Uint8Array([1, 2, 3])), NpyError);
  assert.throws(() => decodeNpy(patch("'<f4'", "'<f8'")), /expected float32/);
  assert.throws(() => decodeNpy(patch('False', 'True ')), /Fortran order/);
  assert.throws(() => decodeNpy(good.subarray(0, good.length - 1)), /truncated .npy data/);
});

test('numpy reads what we write, and we read what numpy writes', { skip: hasNumpy ? false : 'no /usr/bin/python3 with numpy' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'npy-'));
  try {
    const shape = [2, 3, 5];
    const data = values(30);
    writeFileSync(join(dir, 'ours.npy'), encodeNpy({ data, shape }));
    writeFileSync(join(dir, 'ours.json'), JSON.stringify({ shape, values: [...data] }));
    const check = spawnSync(PYTHON, [CHECK, 'check', join(dir, 'ours.npy'), join(dir, 'ours.json')], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
    assert.equal(check.stdout.trim(), 'OK');

    const write = spawnSync(PYTHON, [CHECK, 'write', join(dir, 'theirs.npy')], { encoding: 'utf8' });
    assert.equal(write.status, 0, write.stderr);
    const theirs = decodeNpy(readFileSync(join(dir, 'theirs.npy')));
    assert.deepEqual(theirs.shape, shape);
    assert.deepEqual(
      theirs.data,
      Float32Array.from({ length: 30 }, (_, i) => (i - 7) / 4),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
