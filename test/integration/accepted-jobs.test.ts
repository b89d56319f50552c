// Nothing accepted is lost or leaks, over real HTTP against both runners: DELETE stops a running
// job and nothing of it is written back; a full embedded store refuses new work (503) instead of
// evicting accepted inputs; results that overflow fail with a code; paths that name BullMQ's own
// keys are unknown explanations, never a lookup in Redis.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { encodeNpy } from '../../src/imaging/npy.js';
import { keys } from '../../src/jobs/contract.js';
import { type Json, json, submit, testImage, waitFor } from '../helpers/http.js';
import { REDIS_URL, type TestService, startService } from '../helpers/service.js';

type Explanation = Record<string, unknown> & { id: string; status: string; error?: { code: string; message: string }; links: Record<string, string> };
const first = (r: Json) => (r.body['explanations'] as Explanation[])[0] as Explanation;
const code = (r: Json) => (r.body['error'] as { code: string } | undefined)?.code;

/** A job of 2·10⁵ gradient points on the tiny model: it is still running when the test acts on it. */
const LONG_JOB = { method: 'smoothgrad', base: 'integrated-gradients', samples: '1000', steps: '200' };
/** Where a per-job cost limit is configured, it must admit LONG_JOB. */
const ADMIT_LONG_JOB: Record<string, string> = { MAX_JOB_POINTS: '1000000' };

/** BullMQ's own keys beside the jobs' (`<prefix>:<queue>:<name>`), and other names that are not job ids. */
const NOT_IDS = [
  'id',
  'events',
  'completed',
  'failed',
  'stalled-check',
  'stalled',
  'wait',
  'waiting',
  'active',
  'delayed',
  'paused',
  'prioritized',
  'meta',
  'marker',
  'limiter',
  'metrics',
  'repeat',
  'pc',
  'de',
  '1',
  'undefined',
];

async function whenRunning(url: string, e: Explanation): Promise<void> {
  await waitFor(async () => {
    const s = await json(await fetch(`${url}${e.links['self']}`));
    return s.body['status'] === 'running' && s.body['progress'] ? true : undefined;
  }, 60_000);
}

for (const mode of ['embedded', 'redis'] as const) {
  describe(`accepted jobs with the ${mode} runner`, () => {
    let service: TestService;
    let url: string;
    let image: Buffer;
    before(async () => {
      service = await startService(mode, ADMIT_LONG_JOB);
      url = service.url;
      image = await testImage();
    });
    after(async () => service.close());

    test('DELETE of a running job stops it at its next graph run, and nothing is written back', { timeout: 120_000 }, async () => {
      const e = first(await submit(url, LONG_JOB, [{ field: 'image', bytes: image, name: 'a.png' }]));
      await whenRunning(url, e);
      const deleted = await fetch(`${url}${e.links['self']}`, { method: 'DELETE' });
      assert.equal(deleted.status, 204);
      assert.equal((await json(await fetch(`${url}${e.links['self']}`))).status, 404);
      if (mode === 'redis') {
        // The worker's view: the job ends as cancelled, not completed, and stored no attribution.
        const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
        const queue = new Queue(service.config.QUEUE_NAME, { connection: redis, prefix: service.config.KEY_PREFIX });
        try {
          const state = await waitFor(async () => {
            const job = await queue.getJob(e.id);
            const s = job ? await job.getState() : 'gone';
            return s === 'completed' || s === 'failed' ? { s, job } : undefined;
          }, 100_000);
          assert.equal(state.s, 'failed', 'the cancelled job ran to the end and completed');
          assert.match(state.job?.failedReason ?? '', /SALIENCY_JOB_CANCELLED/);
          assert.equal(await redis.exists(`${service.config.KEY_PREFIX}:blob:${keys.attribution(e.id)}`), 0, 'an attribution was written back');
          assert.equal(await redis.exists(`${service.config.KEY_PREFIX}:${keys.cancel(e.id)}`), 1, 'the cancel marker is kept until its TTL');
        } finally {
          await queue.close();
          redis.disconnect();
        }
      }
      // The worker is free again (one job at a time): the cancelled job stopped early.
      const next = await submit(url, { method: 'gradient' }, [{ field: 'image', bytes: image, name: 'a.png' }], '?wait=60');
      assert.equal(first(next).status, 'completed', JSON.stringify(next.body));
      assert.equal(await service.backend.store.get(keys.attribution(e.id)), undefined);
      assert.equal(await service.backend.store.get(keys.input(e.id)), undefined);
    });

    test('a tensor that overflows float32 in the model fails with SALIENCY_NON_FINITE; its status is a proper failed state', async () => {
      const tensor = encodeNpy({ data: new Float32Array(3 * 32 * 32).fill(3e38), shape: [1, 3, 32, 32] });
      const r = await submit(url, { method: 'gradient' }, [{ field: 'tensor', bytes: tensor, name: 'x.npy' }], '?wait=30');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const e = first(r);
      assert.equal(e.status, 'failed', JSON.stringify(e));
      assert.equal(e.error?.code, 'SALIENCY_NON_FINITE');
      assert.equal(e.attempts, 1, 'a deterministic failure is not retried');
      const s = await json(await fetch(`${url}${e.links['self']}`));
      assert.equal(s.status, 200, JSON.stringify(s.body));
      assert.equal(s.body['status'], 'failed');
      assert.equal((s.body['error'] as { code: string }).code, 'SALIENCY_NON_FINITE');
      assert.equal(s.body['prediction'], undefined, 'no numbers are reported for it');
      const heat = await json(await fetch(`${url}${e.links['heatmap']}`));
      assert.equal(heat.status, 409);
      assert.equal(await service.backend.store.get(keys.attribution(e.id)), undefined);
    });

    test('paths naming queue internals are unknown explanations (404), on every route', async () => {
      for (const id of NOT_IDS) {
        for (const [method, path] of [
          ['GET', ''],
          ['DELETE', ''],
          ['GET', '/heatmap.png'],
          ['GET', '/attribution.npy'],
          ['GET', '/map.json'],
          ['GET', '/events'],
        ] as const) {
          const r = await json(await fetch(`${url}/v1/explanations/${id}${path}`, { method }));
          assert.equal(r.status, 404, `${method} ${id}${path}: ${JSON.stringify(r.body)}`);
          assert.equal(code(r), 'SALIENCY_NOT_FOUND', `${method} ${id}${path}`);
        }
      }
      // And the service still explains.
      const ok = await submit(url, { method: 'gradient' }, [{ field: 'image', bytes: image, name: 'a.png' }], '?wait=30');
      assert.equal(first(ok).status, 'completed');
    });
  });
}

describe('the embedded store when full', () => {
  let service: TestService;
  before(async () => {
    service = await startService('embedded', { EMBEDDED_STORE_MB: '1', MAX_QUEUE_DEPTH: '100' });
  });
  after(async () => service.close());

  test('refuses new work with 503 SALIENCY_STORE_FULL + Retry-After; every accepted job completes', { timeout: 180_000 }, async () => {
    // Noise does not compress: each PNG holds ~150 KB, so about six fit in 1 MiB beside the results.
    const noisy = () =>
      sharp(randomBytes(224 * 224 * 3), { raw: { width: 224, height: 224, channels: 3 } })
        .png()
        .toBuffer();
    const accepted: Explanation[] = [];
    const refused: Json[] = [];
    for (let i = 0; i < 14; i++) {
      const r = await submit(service.url, { method: 'smoothgrad', base: 'integrated-gradients', samples: '50', steps: '100' }, [
        { field: 'image', bytes: await noisy(), name: `n${i}.png` },
      ]);
      if (r.status === 202) accepted.push(first(r));
      else refused.push(r);
    }
    assert.ok(refused.length > 0, 'the store never filled: nothing was refused');
    for (const r of refused) {
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.equal(code(r), 'SALIENCY_STORE_FULL');
      assert.ok(Number(r.headers.get('retry-after')) > 0);
    }
    for (const e of accepted) {
      const done = await waitFor(async () => {
        const s = await json(await fetch(`${service.url}${e.links['self']}`));
        return ['completed', 'failed', 'cancelled'].includes(String(s.body['status'])) ? s : undefined;
      }, 120_000);
      assert.equal(done.body['status'], 'completed', JSON.stringify(done.body));
    }
    // Once the accepted jobs are done, their inputs may give way: new work is accepted again.
    const again = await submit(service.url, { method: 'gradient' }, [{ field: 'image', bytes: await noisy(), name: 'later.png' }], '?wait=30');
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(first(again).status, 'completed');
  });
});
