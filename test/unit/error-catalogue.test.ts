// The error catalogue is closed: every SALIENCY_ code that appears in the sources (routes,
// imaging, workers, the web page) is an entry of ERRORS, with a status and a message.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ERRORS, apiError } from '../../src/gateway/errors.js';
import { IMAGE_ERROR_CODES, IMAGE_ERROR_STATUS } from '../../src/imaging/errors.js';
import { JOB_CANCELLED, JOB_FAILED, WORKER_CRASHED } from '../../src/jobs/index.js';
import { ROOT } from '../helpers/paths.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(ts|js)$/.test(name) ? [path] : [];
  });
}

/** Not error codes: an environment variable the web page's curl example names. */
const NOT_CODES = new Set(['SALIENCY_API_KEY']);

test('every SALIENCY_ code in src/ is in the catalogue', () => {
  const found = new Set<string>();
  for (const file of sources(join(ROOT, 'src'))) for (const m of readFileSync(file, 'utf8').matchAll(/SALIENCY_[A-Z_]+/g)) found.add(m[0]);
  const missing = [...found].filter((code) => !NOT_CODES.has(code) && !(code in ERRORS));
  assert.deepEqual(missing, []);
  assert.ok(found.size >= Object.keys(ERRORS).length, 'every catalogue entry is used somewhere');
});

test('imaging and job codes are catalogue entries with the same status', () => {
  for (const code of IMAGE_ERROR_CODES) assert.equal(ERRORS[code].status, IMAGE_ERROR_STATUS[code], code);
  for (const code of [JOB_CANCELLED, JOB_FAILED, WORKER_CRASHED]) assert.ok(code in ERRORS, code);
});

test('every entry has a status and a message that fills its arguments', () => {
  for (const [code, { status, message }] of Object.entries(ERRORS)) {
    assert.ok(status >= 400 && status < 600, code);
    const filled = apiError(code as keyof typeof ERRORS, ['a', 'b', 'c']);
    assert.equal(filled.statusCode, status);
    assert.doesNotMatch(filled.message, /%s/, code);
    assert.match(message, /\w/);
  }
});
