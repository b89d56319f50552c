// The app's one error handler maps every coded error class to its catalogue status, wherever a
// route lets one through: each imaging code, a worker's JobInputError, a full render pool, a bad
// .npy. An uncoded error stays a 500 that leaks nothing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config/config.js';
import { buildApp } from '../../src/gateway/app.js';
import { ERRORS } from '../../src/gateway/errors.js';
import { IMAGE_ERROR_CODES, ImageError } from '../../src/imaging/errors.js';
import { NpyError } from '../../src/imaging/npy.js';
import { RenderBusyError } from '../../src/imaging/render-pool.js';
import { createJobsBackend, type JobsBackend } from '../../src/jobs/index.js';
import { JobInputError } from '../../src/jobs/interfaces.js';
import { ModelRegistry } from '../../src/models/registry.js';
import { PROCESSOR_FILE } from '../../src/worker/index.js';
import { SERVICE_MODELS } from '../helpers/service.js';

const THROWN: Record<string, () => Error> = {
  ...Object.fromEntries(IMAGE_ERROR_CODES.map((code) => [code, () => new ImageError(code, `imaging said ${code}`)])),
  'job-input': () => new JobInputError('SALIENCY_BAD_LAYER', 'layer x is not 4-D'),
  busy: () => new RenderBusyError('3 renderings are waiting'),
  npy: () => new NpyError('not a .npy file'),
  plain: () => new Error('secret internals'),
  'unknown-code': () => Object.assign(new Error('secret internals'), { code: 'ENOENT' }),
};

let app: FastifyInstance;
let backend: JobsBackend;
before(async () => {
  delete process.env['REDIS_URL'];
  const config = loadConfig({ MODELS_DIR: SERVICE_MODELS, LOG_LEVEL: 'silent', RATE_LIMIT_PER_MINUTE: '0', QUEUE_NAME: `errors-${process.pid}` });
  backend = createJobsBackend(config, { processorFile: PROCESSOR_FILE });
  app = await buildApp({ config, registry: ModelRegistry.load(SERVICE_MODELS), queue: backend.queue, store: backend.store, mode: backend.mode });
  app.get('/test-throw/:what', async (request) => {
    throw (THROWN[(request.params as { what: string }).what] as () => Error)();
  });
});
after(async () => {
  await app.close();
  await backend.close();
});

const answer = async (what: string) => {
  const r = await app.inject({ method: 'GET', url: `/test-throw/${what}` });
  return { status: r.statusCode, error: (r.json() as { error: { code: string; message: string } }).error, headers: r.headers };
};

test('every imaging code answers with its catalogue status and message', async () => {
  for (const code of IMAGE_ERROR_CODES) {
    const r = await answer(code);
    assert.equal(r.error.code, code);
    assert.equal(r.status, ERRORS[code].status, code);
    assert.equal(r.error.message, `imaging said ${code}`);
  }
  assert.equal((await answer('SALIENCY_BAD_RENDER_PARAM')).status, 400);
});

test('other coded errors: a job input error, a full render pool, a bad .npy', async () => {
  assert.deepEqual([(await answer('job-input')).status, (await answer('job-input')).error.code], [400, 'SALIENCY_BAD_LAYER']);
  const busy = await answer('busy');
  assert.deepEqual([busy.status, busy.error.code, busy.headers['retry-after']], [503, 'SALIENCY_RENDER_BUSY', '2']);
  assert.deepEqual([(await answer('npy')).status, (await answer('npy')).error.code], [400, 'SALIENCY_BAD_TENSOR']);
});

test('an uncoded error is a 500 that leaks nothing', async () => {
  for (const what of ['plain', 'unknown-code']) {
    const r = await answer(what);
    assert.equal(r.status, 500);
    assert.equal(r.error.code, 'SALIENCY_INTERNAL');
    assert.doesNotMatch(r.error.message, /secret/);
  }
});
