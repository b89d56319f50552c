// Warm-up: with WARMUP_METHODS set, the embedded queue starts its threads at once and counts a
// thread as a worker only after its processor's warm-up, so /readyz answers 503 until then. A
// distributed worker starts its job threads first and consumes the queue (and is listed among its
// workers, and its heartbeat says ready) only once they are warm. The real processor's warm-up
// compiles and runs each method once per model.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../src/config/config.js';
import { buildApp } from '../../src/gateway/app.js';
import { keys } from '../../src/jobs/contract.js';
import { createJobsBackend, EmbeddedJobQueue, MemoryBlobStore, startBullmqWorker } from '../../src/jobs/index.js';
import { type CheckedModel } from '../../src/models/model-check.js';
import { ModelRegistry } from '../../src/models/registry.js';
import { openModelContext } from '../../src/runtime/model-context.js';
import { createModelChecker } from '../../src/worker/check-models.js';
import { checkHeartbeat, startHeartbeat } from '../../src/worker/heartbeat.js';
import { PROCESSOR_FILE } from '../../src/worker/index.js';
import { warmUp, warmupMethods } from '../../src/worker/warm-up.js';
import { waitFor } from '../helpers/http.js';
import { REDIS_URL, SERVICE_MODELS, removeKeys } from '../helpers/service.js';

const PROCESSOR = fileURLToPath(new URL('../helpers/gated-warmup-processor.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'saliency-warmup-'));

/** A distributed worker's configuration: its own queue and keys, two threads warming up `gradient`. */
const distributedConfig = (unique: string) =>
  loadConfig({
    REDIS_URL,
    QUEUE_NAME: unique,
    KEY_PREFIX: unique,
    MODELS_DIR: SERVICE_MODELS,
    LOG_LEVEL: 'silent',
    WORKER_CONCURRENCY: '2',
    WARMUP_METHODS: 'gradient',
    RATE_LIMIT_PER_MINUTE: '0',
  });
after(() => rmSync(dir, { recursive: true, force: true }));

test('/readyz waits until the worker threads have warmed up', async () => {
  const gate = join(dir, 'gate');
  process.env['SALIENCY_TEST_WARMUP_GATE'] = gate;
  const config = loadConfig({
    MODELS_DIR: SERVICE_MODELS,
    LOG_LEVEL: 'silent',
    WORKER_CONCURRENCY: '2',
    WARMUP_METHODS: 'gradient',
    RATE_LIMIT_PER_MINUTE: '0',
  });
  const store = new MemoryBlobStore();
  const queue = new EmbeddedJobQueue(config, PROCESSOR, store);
  const app = await buildApp({ config, registry: ModelRegistry.load(config.MODELS_DIR), queue, store, mode: 'embedded' });
  try {
    for (let i = 0; i < 5; i++) {
      const res = await app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(res.statusCode, 503);
      assert.equal(res.json<{ workers: number }>().workers, 0);
      await sleep(50);
    }
    writeFileSync(gate, '');
    let status = 0;
    // Threads load the processor first: slow on a loaded machine.
    for (const deadline = Date.now() + 60_000; Date.now() < deadline && status !== 200;) {
      status = (await app.inject({ method: 'GET', url: '/readyz' })).statusCode;
      if (status !== 200) await sleep(25);
    }
    assert.equal(status, 200);
    assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).json<{ workers: number }>().workers, 2);
  } finally {
    await app.close();
    await queue.close();
  }
});

test('a distributed worker takes no job, is not listed and reports not ready until its threads have warmed up', async () => {
  const gate = join(dir, 'gate-distributed');
  process.env['SALIENCY_TEST_WARMUP_GATE'] = gate;
  const unique = `test-warmup-${process.pid}-${Date.now()}`;
  const config = distributedConfig(unique);
  const backend = createJobsBackend(config, { processorFile: PROCESSOR });
  const app = await buildApp({ config, registry: ModelRegistry.load(config.MODELS_DIR), queue: backend.queue, store: backend.store, mode: backend.mode });
  const worker = startBullmqWorker(config, PROCESSOR);
  const beat = join(dir, 'heartbeat');
  const stopHeartbeat = startHeartbeat(beat, () => worker.state(), worker.waitUntilReady());
  const submitJob = async (params: { steps?: number; samples?: number }) => {
    const id = randomUUID();
    await backend.store.put(keys.input(id), Uint8Array.from([1, 2, 3]), 60);
    await backend.queue.submit({
      id,
      model: 'ok',
      params: { method: 'gradient', ...params },
      input: { kind: 'tensor', key: keys.input(id) },
      submittedAt: Date.now(),
    });
    return id;
  };
  const readyz = async () => {
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    return { status: res.statusCode, workers: res.json<{ workers: number }>().workers };
  };
  try {
    const id = await submitJob({});
    await waitFor(async () => (checkHeartbeat(beat) ? true : undefined), 5000, 20);
    for (let i = 0; i < 5; i++) {
      assert.equal((await backend.queue.status(id))?.state, 'queued');
      assert.equal(await worker.state(), 'warming');
      assert.match(checkHeartbeat(beat) ?? '', /still warming up/);
      assert.deepEqual(await readyz(), { status: 503, workers: 0 });
      await sleep(100);
    }
    writeFileSync(gate, '');
    // Threads load the processor first: slow on a loaded machine.
    await waitFor(async () => ((await backend.queue.status(id))?.state === 'completed' ? true : undefined), 60_000, 50);
    assert.equal(await worker.state(), 'ready');
    assert.deepEqual(await readyz(), { status: 200, workers: 1 });
    // The job ran on one of the warm threads: BullMQ started no other.
    assert.equal(readFileSync(`${gate}.warmed`, 'utf8').trim().split('\n').length, 2);
    // The beat once the worker is ready says so.
    await waitFor(async () => (checkHeartbeat(beat) === undefined ? true : undefined), 5000, 20);

    // Closing lets the running job finish on its warm thread.
    const running = await submitJob({ steps: 5, samples: 200 });
    await waitFor(async () => ((await backend.queue.status(running))?.state === 'running' ? true : undefined), 30_000, 20);
    await worker.close();
    assert.equal((await backend.queue.status(running))?.state, 'completed');
  } finally {
    stopHeartbeat();
    await app.close();
    await worker.close();
    await backend.close();
    await removeKeys(unique);
  }
});

test('the embedded queue closed during the warm-up lets the warm-up end itself before the thread exits', async () => {
  // A thread that exited under a warm-up's ONNX Runtime run would abort the whole process.
  const gate = join(dir, 'never-embedded');
  process.env['SALIENCY_TEST_WARMUP_GATE'] = gate;
  const config = loadConfig({ MODELS_DIR: SERVICE_MODELS, LOG_LEVEL: 'silent', WORKER_CONCURRENCY: '2', WARMUP_METHODS: 'gradient' });
  const queue = new EmbeddedJobQueue(config, PROCESSOR, new MemoryBlobStore());
  await sleep(300);
  const started = Date.now();
  await queue.close();
  // Both threads ended their warm-up themselves, well before the 5 s after which an idle thread is terminated.
  assert.equal(readFileSync(`${gate}.stopped`, 'utf8').trim().split('\n').length, 2);
  assert.ok(Date.now() - started < 5000, `close took ${Date.now() - started} ms`);
});

test('the embedded queue closed while its first thread still checks the models waits for that thread', async () => {
  // The thread's 'checked' message used to unref it after close() had started waiting for it.
  const config = loadConfig({ MODELS_DIR: SERVICE_MODELS, LOG_LEVEL: 'silent', WARMUP_METHODS: 'gradient' });
  const queue = new EmbeddedJobQueue(config, PROCESSOR_FILE, new MemoryBlobStore());
  await sleep(20);
  await queue.close();
  assert.equal(await queue.ready(), false);
});

test('a distributed worker closed during its warm-up lets the warm-ups end themselves, then ends its threads', async () => {
  // As in the embedded queue: a thread ended under a warm-up's ONNX Runtime run would abort the process.
  const gate = join(dir, 'never');
  process.env['SALIENCY_TEST_WARMUP_GATE'] = gate;
  const unique = `test-warmup-close-${process.pid}-${Date.now()}`;
  const config = distributedConfig(unique);
  const worker = startBullmqWorker(config, PROCESSOR);
  await sleep(200);
  await worker.close();
  assert.equal(await worker.started, undefined);
  assert.equal(await worker.state(), 'down');
  // Both threads had loaded the processor (or did so before they were ended) and stopped their warm-up.
  assert.equal(readFileSync(`${gate}.stopped`, 'utf8').trim().split('\n').length, 2);
  await removeKeys(unique);
});

test("the embedded queue's first thread checks the models for the gateway: the same verdicts as the gateway's own check", async () => {
  const models = join(dir, 'models');
  cpSync(join(SERVICE_MODELS, 'tiny'), join(models, 'tiny'), { recursive: true });
  cpSync(join(SERVICE_MODELS, 'tiny'), join(models, 'mislabelled'), { recursive: true });
  writeFileSync(join(models, 'mislabelled', 'labels.txt'), 'one\ntwo\n');
  const env = { MODELS_DIR: models, CACHE_DIR: join(dir, 'cache'), LOG_LEVEL: 'silent', WARMUP_METHODS: 'gradient', WORKER_CONCURRENCY: '2' };
  Object.assign(process.env, env); // what the processor in the job threads reads
  const config = loadConfig(env);
  const backend = createJobsBackend(config, { processorFile: PROCESSOR_FILE });
  try {
    const checked = (await backend.checkedModels) as CheckedModel[];
    assert.equal(checked.length, 2);
    const listing = (r: ModelRegistry) => ({ models: r.list().map((e) => [e.id, e.facts]), unavailable: r.unavailable().map((u) => [u.id, u.code, u.reason]) });
    const own = listing(await createModelChecker(config).scan());
    assert.deepEqual(
      own.unavailable.map(([id, code]) => [id, code]),
      [['mislabelled', 'SALIENCY_MODEL_INVALID']],
    );
    assert.deepEqual(listing(await createModelChecker(config, Promise.resolve(checked)).scan()), own);
    // The listing uses the verdicts it was given: none is checked again.
    const tiny = checked.find((c) => c.key.startsWith('tiny:')) as CheckedModel;
    const given = await createModelChecker(
      config,
      Promise.resolve([{ key: tiny.key, verdict: { problem: { code: 'SALIENCY_MODEL_UNSUPPORTED', reason: 'given' } } }]),
    ).scan();
    assert.deepEqual(given.unavailableModel('tiny')?.reason, 'given');
  } finally {
    await backend.close();
  }
});

test('the warm-up compiles and runs each configured method once per model', async () => {
  assert.deepEqual(warmupMethods(' gradient, smoothgrad ,'), ['gradient', 'smoothgrad']);
  assert.throws(() => warmupMethods('gradient,smoothgrid'), /smoothgrid/);
  const models = ModelRegistry.load(SERVICE_MODELS).list();
  const contexts = new Map<string, Awaited<ReturnType<typeof openModelContext>>>();
  try {
    const reports = await warmUp(models, ['gradient', 'smoothgrad'], async (entry) => {
      let ctx = contexts.get(entry.id);
      if (!ctx) {
        const [H, W] = entry.manifest.input.size;
        ctx = await openModelContext(entry.onnxPath, { threads: 1, input: entry.manifest.input.name, inputShape: [entry.manifest.input.channels, H, W] });
        contexts.set(entry.id, ctx);
      }
      return ctx;
    });
    assert.equal(reports.length, 2 * models.length);
    for (const r of reports) assert.equal(r.error, undefined, `${r.model} ${r.method}: ${r.error?.message}`);
    for (const ctx of contexts.values())
      assert.deepEqual(
        ctx
          .sessionInfo()
          .map((s) => s.key)
          .sort(),
        ['forward', 'fused:standard'],
      );
  } finally {
    for (const ctx of contexts.values()) await ctx.close();
  }
});
