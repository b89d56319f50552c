// The configuration is read from environment strings: numbers and switches are converted, bad
// values are refused with the key named.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig, ortSpin } from '../../src/config/config.js';

test('ONNX Runtime threads spin by default only when a worker runs one job at a time', () => {
  assert.equal(ortSpin(loadConfig({})), true);
  assert.equal(ortSpin(loadConfig({ WORKER_CONCURRENCY: '4' })), false);
  assert.equal(ortSpin(loadConfig({ WORKER_CONCURRENCY: '4', ORT_SPIN: 'true' })), true);
  assert.equal(ortSpin(loadConfig({ ORT_SPIN: 'false' })), false);
  assert.equal(loadConfig({}).ORT_THREADS, 0);
});

test('switches and numbers are converted from environment strings', () => {
  for (const [text, value] of [
    ['false', false],
    ['0', false],
    ['true', true],
    ['1', true],
  ] as const) {
    assert.equal(loadConfig({ ORT_SPIN: text }).ORT_SPIN, value, text);
  }
  assert.equal(loadConfig({ ORT_THREADS: '3' }).ORT_THREADS, 3);
});

test('a bad value names its key and what was given', () => {
  assert.throws(
    () => loadConfig({ ORT_SPIN: 'sometimes' }),
    (err: unknown) => err instanceof ConfigError && /ORT_SPIN/.test(err.message) && /sometimes/.test(err.message),
  );
  assert.throws(
    () => loadConfig({ ORT_THREADS: '-1' }),
    (err: unknown) => err instanceof ConfigError && /ORT_THREADS/.test(err.message),
  );
});
