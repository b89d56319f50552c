// The job queue and blob store contract, one behaviour table run against both backends: the
// embedded queue (worker threads in this process) and BullMQ on the real Redis with a worker
// started here. The processor is test/helpers/fake-processor.ts; the real one is tested elsewhere.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { REDIS_URL, removeKeys } from '../helpers/service.js';
import { loadConfig } from '../../src/config/config.js';
import { type JobEvent, type JobPayload, type JobState, type JobStatus, keys } from '../../src/jobs/contract.js';
import {
  type BlobStore,
  BullmqJobQueue,
  createJobsBackend,
  type JobQueue,
  MemoryBlobStore,
  QueueFullError,
  QueueUnavailableError,
  RedisBlobStore,
  startBullmqWorker,
  type WebhookDelivery,
} from '../../src/jobs/index.js';

const PROCESSOR = fileURLToPath(new URL('../helpers/fake-processor.js', import.meta.url));
// (REDIS_URL comes from the service helper: the machine's Redis.)
const RUN = `test-${process.pid}-${Date.now()}`;
const ATTEMPTS = 2;
const MAX_DEPTH = 3;

const config = (overrides: Partial<ReturnType<typeof loadConfig>> = {}) =>
  loadConfig(
    {},
    {
      QUEUE_NAME: 'jobs',
      KEY_PREFIX: RUN,
      // Threads on demand: warm-up.test.ts covers threads that start warm.
      WARMUP_METHODS: '',
      WORKER_CONCURRENCY: 1,
      JOB_ATTEMPTS: ATTEMPTS,
      MAX_QUEUE_DEPTH: MAX_DEPTH,
      RESULT_TTL_SECONDS: 60,
      INPUT_TTL_SECONDS: 60,
      JOB_LOCK_MS: 5000,
      STALLED_INTERVAL_MS: 5000,
      SHUTDOWN_TIMEOUT_MS: 5000,
      ...overrides,
    },
  );

function payload(model: string, params: { steps?: number; samples?: number } = {}): JobPayload {
  const id = randomUUID();
  return { id, model, params: { method: 'gradient', ...params }, input: { kind: 'tensor', key: keys.input(id) }, submittedAt: Date.now() };
}

/** Polls until the job reaches one of `states` (15 s at most). */
async function waitFor(queue: JobQueue, id: string, states: JobState[], until?: (s: JobStatus) => boolean): Promise<JobStatus> {
  for (let i = 0; i < 300; i++) {
    const status = await queue.status(id);
    if (status && states.includes(status.state) && (!until || until(status))) return status;
    await sleep(50);
  }
  throw new Error(`job ${id} did not reach ${states.join('|')}: ${JSON.stringify(await queue.status(id))}`);
}

/** Records a job's events; `final` resolves with the last one. */
function record(queue: JobQueue, id: string): { events: JobEvent[]; final: Promise<JobEvent> } {
  const events: JobEvent[] = [];
  const final = new Promise<JobEvent>((resolve) => {
    queue.subscribe(id, (event) => {
      events.push(event);
      if (event.type !== 'progress') resolve(event);
    });
  });
  return { events, final };
}

interface Harness {
  queue: JobQueue;
  store: BlobStore;
  close(): Promise<void>;
}

const backends: { name: string; start(): Promise<Harness> }[] = [
  {
    name: 'embedded',
    start: () => Promise.resolve(createJobsBackend(config(), { processorFile: PROCESSOR })),
  },
  {
    name: 'bullmq',
    start: async () => {
      const cfg = config({ REDIS_URL });
      const backend = createJobsBackend(cfg, { processorFile: PROCESSOR });
      assert.equal(backend.mode, 'redis');
      const worker = startBullmqWorker(cfg, PROCESSOR);
      await worker.waitUntilReady();
      return {
        ...backend,
        close: async () => {
          await worker.close();
          await backend.close();
        },
      };
    },
  },
];

for (const backend of backends) {
  describe(`jobs on ${backend.name}`, () => {
    let queue: JobQueue;
    let store: BlobStore;
    let harness: Harness;
    before(async () => {
      harness = await backend.start();
      ({ queue, store } = harness);
    });
    after(() => harness.close());

    test('is ready and has a worker', async () => {
      assert.equal(await queue.ready(), true);
      assert.ok((await queue.workers()) >= 1);
    });

    test('a job completes with its result, in-order progress events and the blob it wrote', async () => {
      const job = payload('ok', { steps: 3 });
      await store.put(job.input.key, Uint8Array.from([1, 2, 3, 4]), 60);
      const { events, final } = record(queue, job.id);
      await queue.submit(job);
      const last = await final;
      assert.equal(last.type, 'completed');
      assert.deepEqual(
        events.filter((e) => e.type === 'progress').map((e) => (e.type === 'progress' ? e.progress.done : -1)),
        [1, 2, 3],
      );
      assert.equal(events.at(-1), last);
      const status = await queue.status(job.id);
      assert.equal(status?.state, 'completed');
      assert.deepEqual(status?.result?.attribution.shape, [4]);
      assert.deepEqual(status?.progress, { done: 3, total: 3, stage: 'run' });
      assert.equal(status?.attempts, 1);
      assert.deepEqual(status?.payload, job);
      assert.ok(status?.startedAt !== undefined && status.finishedAt !== undefined && status.finishedAt >= status.startedAt);
      assert.deepEqual([...((await store.get(keys.attribution(job.id))) ?? [])], [4, 3, 2, 1]);
    });

    test('status goes queued → running → completed', async () => {
      const blocker = payload('ok', { steps: 4, samples: 50 });
      const job = payload('ok', { steps: 4, samples: 50 });
      await queue.submit(blocker);
      await queue.submit(job);
      assert.equal((await queue.status(job.id))?.state, 'queued');
      const seen: JobState[] = [];
      for (;;) {
        const state = (await queue.status(job.id))?.state;
        assert.ok(state);
        if (seen.at(-1) !== state) seen.push(state);
        if (state === 'completed' || state === 'failed') break;
        await sleep(20);
      }
      assert.deepEqual(seen, ['queued', 'running', 'completed']);
      assert.equal(await queue.status('no-such-job'), undefined);
    });

    test('a failing job is retried, then fails with SALIENCY_JOB_FAILED', async () => {
      const job = payload('fail');
      const { events, final } = record(queue, job.id);
      await queue.submit(job);
      const last = await final;
      assert.deepEqual(last, { type: 'failed', id: job.id, error: { code: 'SALIENCY_JOB_FAILED', message: 'the test processor failed' } });
      assert.equal(events.length, 1);
      const status = await queue.status(job.id);
      assert.equal(status?.state, 'failed');
      assert.equal(status?.attempts, ATTEMPTS);
      assert.deepEqual(status?.error, { code: 'SALIENCY_JOB_FAILED', message: 'the test processor failed' });
    });

    test('an input error fails at once with its code, not retried', async () => {
      const job = payload('input-error');
      await queue.submit(job);
      const status = await waitFor(queue, job.id, ['failed', 'completed']);
      assert.equal(status.state, 'failed');
      assert.deepEqual(status.error, { code: 'SALIENCY_TEST_BAD_INPUT', message: 'the test input is bad' });
      assert.equal(status.attempts, 1);
    });

    test('cancelling a queued job removes it; cancelling a running one stops it', async () => {
      // 600 steps of 100 ms: only a cancellation ends this job within the test.
      const running = payload('ok', { steps: 600, samples: 100 });
      const queued = payload('ok');
      await queue.submit(running);
      await queue.submit(queued);
      await waitFor(queue, running.id, ['running'], (s) => (s.progress?.done ?? 0) >= 1);
      const queuedEvents = record(queue, queued.id);
      assert.equal(await queue.cancel(queued.id), true);
      assert.deepEqual(await queuedEvents.final, { type: 'cancelled', id: queued.id });
      const queuedStatus = await queue.status(queued.id);
      assert.equal(queuedStatus?.state, 'cancelled');
      assert.equal(queuedStatus?.error?.code, 'SALIENCY_JOB_CANCELLED');
      assert.deepEqual(queuedStatus?.payload, queued);

      const runningEvents = record(queue, running.id);
      assert.equal(await queue.cancel(running.id), true);
      assert.deepEqual(await runningEvents.final, { type: 'cancelled', id: running.id });
      assert.equal((await queue.status(running.id))?.state, 'cancelled');
      // With one worker thread, the next job runs only once the cancelled one has stopped.
      const next = payload('ok');
      await queue.submit(next);
      assert.equal((await waitFor(queue, next.id, ['completed', 'failed'])).state, 'completed');
      const stopped = await queue.status(running.id);
      assert.equal(stopped?.state, 'cancelled');
      assert.equal(stopped?.result, undefined);
      assert.equal(stopped?.attempts, 1);
      assert.ok((stopped?.progress?.done ?? 0) < 600);
      assert.equal(await queue.cancel(running.id), false, 'a finished job cannot be cancelled');
      assert.equal(await queue.cancel('no-such-job'), false);
    });

    test(`submissions beyond ${MAX_DEPTH} waiting jobs get QueueFullError`, async () => {
      const running = payload('ok', { steps: 600, samples: 100 });
      await queue.submit(running);
      await waitFor(queue, running.id, ['running']);
      const waiting = [payload('ok'), payload('ok'), payload('ok')];
      for (const job of waiting) await queue.submit(job);
      assert.equal(await queue.depth(), MAX_DEPTH);
      await assert.rejects(queue.submit(payload('ok')), QueueFullError);
      for (const job of [...waiting, running]) assert.equal(await queue.cancel(job.id), true);
      assert.equal(await queue.depth(), 0);
    });

    test('a crashing thread fails its job with SALIENCY_WORKER_CRASHED after retries; the next job runs', async () => {
      const crash = payload('crash');
      await queue.submit(crash);
      const status = await waitFor(queue, crash.id, ['failed', 'completed']);
      assert.equal(status.state, 'failed');
      assert.equal(status.error?.code, 'SALIENCY_WORKER_CRASHED');
      assert.equal(status.attempts, ATTEMPTS);
      const next = payload('ok');
      await queue.submit(next);
      assert.equal((await waitFor(queue, next.id, ['completed', 'failed'])).state, 'completed');
    });

    test('remove forgets a finished job', async () => {
      const job = payload('ok', { steps: 1 });
      await queue.submit(job);
      await waitFor(queue, job.id, ['completed']);
      await queue.remove(job.id);
      assert.equal(await queue.status(job.id), undefined);
    });

    test('webhooks: one delivery per ended job (completed, failed for good, cancelled queued or running), retried when rejected; none for a removed one', async () => {
      const seen: WebhookDelivery[] = [];
      const states = new Map<string, string>();
      queue.deliverWebhooks(
        async (delivery) => {
          seen.push(delivery);
          states.set(delivery.jobId, (await queue.status(delivery.jobId))?.state ?? 'gone');
          if (delivery.attempt === 1 && delivery.url.endsWith('/flaky')) throw new Error('the receiver is down');
        },
        { attempts: 3, delayMs: () => 10 },
      );
      const attempts = (job: JobPayload) => seen.filter((d) => d.jobId === job.id).map((d) => d.attempt);
      const ok = payload('ok', { steps: 1 });
      const failing = payload('fail');
      await queue.submit(ok, { webhook: 'http://receiver.test/flaky' });
      await queue.submit(failing, { webhook: 'http://receiver.test/failed' });
      await waitFor(queue, failing.id, ['failed']);
      const running = payload('ok', { steps: 600, samples: 100 });
      const [queued, withdrawn] = [payload('ok'), payload('ok')];
      await queue.submit(running, { webhook: 'http://receiver.test/running' });
      await waitFor(queue, running.id, ['running']);
      await queue.submit(queued, { webhook: 'http://receiver.test/queued' });
      await queue.submit(withdrawn, { webhook: 'http://receiver.test/withdrawn' });
      assert.equal(await queue.cancel(queued.id), true);
      // A rolled-back submission: nobody was told of the job, so nobody is called.
      await queue.remove(withdrawn.id);
      assert.equal(await queue.cancel(running.id), true);
      for (let i = 0; i < 300 && [ok, failing, queued, running].some((j) => !states.has(j.id) || (j === ok && attempts(ok).length < 2)); i++) await sleep(50);
      assert.deepEqual(attempts(ok), [1, 2], 'retried once after the rejection');
      assert.deepEqual([attempts(failing), attempts(queued), attempts(running), attempts(withdrawn)], [[1], [1], [1], []]);
      assert.deepEqual(
        [ok, failing, queued, running].map((j) => states.get(j.id)),
        ['completed', 'failed', 'cancelled', 'cancelled'],
      );
      assert.equal(seen.find((d) => d.jobId === queued.id)?.url, 'http://receiver.test/queued');
    });

    test('the blob store keeps values until their TTL and deletes by prefix', async () => {
      const id = randomUUID();
      const bytes = Uint8Array.from([0, 255, 7, 128]);
      await store.put(keys.input(id), bytes, 60);
      await store.put(keys.baseline(id), bytes, 1);
      await store.put(keys.rendering(id, 'a'), bytes, 60);
      await store.put(keys.rendering(id, 'b'), bytes, 60);
      await store.put(keys.rendering('other', 'a'), bytes, 60);
      const got = await store.get(keys.input(id));
      assert.ok(Buffer.isBuffer(got));
      assert.deepEqual([...got], [...bytes]);
      assert.equal(await store.get('missing'), undefined);
      await store.deletePrefix(`render:${id}:`);
      assert.equal(await store.get(keys.rendering(id, 'a')), undefined);
      assert.equal(await store.get(keys.rendering(id, 'b')), undefined);
      assert.ok(await store.get(keys.rendering('other', 'a')));
      await store.delete(keys.input(id), keys.rendering('other', 'a'));
      assert.equal(await store.get(keys.input(id)), undefined);
      await sleep(1100);
      assert.equal(await store.get(keys.baseline(id)), undefined, 'expired after its TTL');
    });
  });
}

describe('memory store', () => {
  test("never evicts an accepted job's blobs: a full store rejects with StoreFullError", async () => {
    let now = 0;
    const store = new MemoryBlobStore({ maxBytes: 16, now: () => now });
    await store.put(keys.input('a'), new Uint8Array(8), 100);
    await store.put(keys.attribution('a'), new Uint8Array(6), 100);
    // Inputs may use at most 7/8 of the cap (14 bytes): the rest is kept for results.
    await assert.rejects(store.put(keys.input('b'), new Uint8Array(6), 100), { name: 'StoreFullError' });
    assert.ok(await store.get(keys.input('a')), 'an accepted input was evicted');
    assert.ok(await store.get(keys.attribution('a')));
    // Markers never count against the cap.
    await store.put(keys.deleted('a'), new Uint8Array(1), 100);
    // Expired blobs make room.
    now = 200_000;
    await store.put(keys.input('c'), new Uint8Array(12), 100);
    assert.equal(store.size, 12);
    await assert.rejects(store.put('huge', new Uint8Array(17), 10), { name: 'BlobTooLargeError' });
    await store.close();
  });

  test('evicts cached renderings and released inputs, soonest-expiring first; a rendering that does not fit is not cached', async () => {
    const store = new MemoryBlobStore({ maxBytes: 16 });
    await store.put(keys.rendering('a', 'x'), new Uint8Array(4), 10);
    await store.put(keys.input('done'), new Uint8Array(4), 50);
    await store.put(keys.input('running'), new Uint8Array(4), 5);
    store.release(keys.input('done'));
    await store.put(keys.input('new'), new Uint8Array(7), 100);
    assert.equal(await store.get(keys.rendering('a', 'x')), undefined, 'the rendering went first');
    assert.equal(await store.get(keys.input('done')), undefined, 'then the released input');
    assert.ok(await store.get(keys.input('running')), 'the accepted input stays, though it expires soonest');
    await store.put(keys.attribution('new'), new Uint8Array(5), 100);
    await store.put(keys.rendering('new', 'y'), new Uint8Array(4), 10);
    assert.equal(await store.get(keys.rendering('new', 'y')), undefined);
    assert.equal(store.size, 16);
    await store.close();
  });
});

describe('embedded queue', () => {
  test(`keeps at most EMBEDDED_RESULT_CAP finished jobs`, async () => {
    const { queue, close } = createJobsBackend(config({ EMBEDDED_RESULT_CAP: 2 }), { processorFile: PROCESSOR });
    const jobs = [payload('ok', { steps: 1 }), payload('ok', { steps: 1 }), payload('ok', { steps: 1 })];
    for (const job of jobs) {
      await queue.submit(job);
      await waitFor(queue, job.id, ['completed']);
    }
    assert.equal(await queue.status(jobs[0]?.id ?? ''), undefined);
    assert.equal((await queue.status(jobs[2]?.id ?? ''))?.state, 'completed');
    await close();
  });
});

describe('graceful close', () => {
  test('the embedded queue lets its running job finish', async () => {
    const { queue, store } = createJobsBackend(config(), { processorFile: PROCESSOR });
    const job = payload('ok', { steps: 5, samples: 50 });
    await queue.submit(job);
    await waitFor(queue, job.id, ['running']);
    await queue.close();
    assert.equal((await queue.status(job.id))?.state, 'completed');
    await assert.rejects(queue.submit(payload('ok')), QueueUnavailableError);
    await store.close();
  });

  test('the BullMQ worker lets its running job finish', async () => {
    const cfg = config({ REDIS_URL, QUEUE_NAME: 'drain' });
    const backend = createJobsBackend(cfg, { processorFile: PROCESSOR });
    const worker = startBullmqWorker(cfg, PROCESSOR);
    const job = payload('ok', { steps: 5, samples: 50 });
    await backend.queue.submit(job);
    await waitFor(backend.queue, job.id, ['running']);
    await worker.close();
    assert.equal((await backend.queue.status(job.id))?.state, 'completed');
    await backend.close();
  });
});

describe('redis outage', () => {
  test('producers reject with QueueUnavailableError within 2 s', async () => {
    const cfg = config({ REDIS_URL: 'redis://127.0.0.1:1' });
    const queue = new BullmqJobQueue(cfg);
    const store = new RedisBlobStore('redis://127.0.0.1:1', RUN);
    for (const call of [
      () => queue.submit(payload('ok')),
      () => queue.status(randomUUID()),
      () => store.put('k', new Uint8Array(1), 10),
      () => store.get('k'),
    ]) {
      const t0 = Date.now();
      await assert.rejects(call(), QueueUnavailableError);
      assert.ok(Date.now() - t0 < 2000, `rejected after ${Date.now() - t0} ms`);
    }
    assert.equal(await queue.ready(), false);
    await queue.close();
    await store.close();
  });
});

after(async () => removeKeys(RUN));
