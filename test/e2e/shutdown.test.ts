// SIGTERM of a real gateway process (`saliency serve`), embedded and distributed: it stops
// accepting (POST and /readyz answer 503 in the documented shape), answers requests waiting with
// `?wait` at once with 202 and their job ids, and exits with code 0 even with a job running at
// the drain deadline (a thread inside ONNX Runtime must not be terminated: that aborts, exit 134).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config/config.js';
import { startServer } from '../../src/gateway/server.js';
import { startBullmqWorker } from '../../src/jobs/index.js';
import { PROCESSOR_FILE } from '../../src/worker/index.js';
import { type Json, json, submit, testImage, waitFor } from '../helpers/http.js';
import { CLI, FIXTURES } from '../helpers/paths.js';
import { REDIS_URL, SERVICE_MODELS, removeKeys } from '../helpers/service.js';

type Explanation = { id: string; status: string; links: Record<string, string> };
const first = (r: Json) => (r.body['explanations'] as Explanation[])[0] as Explanation;
const code = (r: Json) => (r.body['error'] as { code: string } | undefined)?.code;

/** 2·10⁵ gradient points on the tiny model: still running when the drain deadline comes. */
const LONG_JOB = { method: 'smoothgrad', base: 'integrated-gradients', samples: '1000', steps: '200' };

const prefix = `shutdown-${process.pid}-${Date.now()}`;
const children = new Set<ChildProcess>();
after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await removeKeys(prefix);
});

interface Gateway {
  url: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const baseEnv = {
  HOST: '127.0.0.1',
  PORT: '0',
  MODELS_DIR: SERVICE_MODELS,
  CACHE_DIR: join(FIXTURES, '..', '..', '.cache', 'test-compiled'),
  ORT_THREADS: '1',
  RATE_LIMIT_PER_MINUTE: '0',
  LOG_LEVEL: 'info',
  // Where a per-job cost limit is configured, it must admit LONG_JOB.
  MAX_JOB_POINTS: '1000000',
};

/** Starts `saliency serve` and reads its address from the 'listening' log line. */
async function startGateway(env: Record<string, string>): Promise<Gateway> {
  const childEnv: Record<string, string | undefined> = { ...process.env, ...baseEnv, ...env };
  if (!env['REDIS_URL']) delete childEnv['REDIS_URL'];
  const child = spawn(process.execPath, [CLI, 'serve'], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  const url = await waitFor(async () => /"address":"(http:[^"]+)"/.exec(output)?.[1], 30_000, 50);
  return { url, child, output: () => output, exited };
}

test('embedded gateway: SIGTERM drains, answers the waiting request with its id, and exits 0 with a job running', { timeout: 180_000 }, async () => {
  const gw = await startGateway({ SHUTDOWN_TIMEOUT_MS: '6000', WORKER_CONCURRENCY: '1' });
  const image = await testImage();
  const running = first(await submit(gw.url, LONG_JOB, [{ field: 'image', bytes: image, name: 'a.png' }]));
  await waitFor(async () => ((await json(await fetch(`${gw.url}${running.links['self']}`))).body['status'] === 'running' ? true : undefined), 60_000);
  // Queued behind the running job (one thread): it waits until SIGTERM.
  const waiting = submit(gw.url, { method: 'gradient' }, [{ field: 'image', bytes: image, name: 'b.png' }], '?wait=60');
  await waitFor(
    async () => (gw.output().includes('explanations queued') && gw.output().split('explanations queued').length > 2 ? true : undefined),
    30_000,
    50,
  );
  gw.child.kill('SIGTERM');

  const answered = await waiting;
  assert.equal(answered.status, 202, JSON.stringify(answered.body));
  const waited = first(answered);
  assert.match(waited.id, /^[0-9a-f-]{36}$/);
  assert.equal(waited.status, 'queued');

  // Draining: no new work, not ready; what is running is still reported.
  const refused = await submit(gw.url, { method: 'gradient' }, [{ field: 'image', bytes: image, name: 'c.png' }]);
  assert.equal(refused.status, 503, JSON.stringify(refused.body));
  assert.equal(code(refused), 'SALIENCY_SHUTTING_DOWN');
  assert.ok(Number(refused.headers.get('retry-after')) > 0);
  const ready = await json(await fetch(`${gw.url}/readyz`));
  assert.equal(ready.status, 503);
  assert.equal(code(ready), 'SALIENCY_SHUTTING_DOWN');
  const status = await json(await fetch(`${gw.url}${running.links['self']}`));
  assert.equal(status.status, 200);
  assert.equal(status.body['status'], 'running');

  const exit = await gw.exited;
  assert.deepEqual(exit, { code: 0, signal: null }, gw.output().slice(-2000));
  assert.doesNotMatch(gw.output(), /Napi::Error|terminate called/);
  assert.match(gw.output(), /stopping running jobs at their next graph run/);
});

test('embedded gateway: SIGTERM with nothing running exits 0 at once', { timeout: 60_000 }, async () => {
  const gw = await startGateway({ SHUTDOWN_TIMEOUT_MS: '30000' });
  const done = await submit(gw.url, { method: 'gradient' }, [{ field: 'image', bytes: await testImage(), name: 'a.png' }], '?wait=30');
  assert.equal(done.status, 200);
  gw.child.kill('SIGTERM');
  assert.deepEqual(await gw.exited, { code: 0, signal: null }, gw.output().slice(-2000));
});

test('distributed gateway: SIGTERM answers the waiting request with 202 and its id; the job survives and completes', { timeout: 120_000 }, async () => {
  const env = { REDIS_URL, QUEUE_NAME: prefix, KEY_PREFIX: prefix, SHUTDOWN_TIMEOUT_MS: '10000' };
  const gw = await startGateway(env);
  // No worker yet: the job waits in Redis and so does the request.
  const waiting = submit(gw.url, { method: 'gradient' }, [{ field: 'image', bytes: await testImage(), name: 'a.png' }], '?wait=60');
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue(prefix, { connection: redis, prefix });
  try {
    await waitFor(async () => ((await queue.getWaitingCount()) > 0 ? true : undefined), 30_000, 50);
    gw.child.kill('SIGTERM');
    const answered = await waiting;
    assert.equal(answered.status, 202, JSON.stringify(answered.body));
    const id = first(answered).id;
    assert.equal(first(answered).status, 'queued');
    assert.deepEqual(await gw.exited, { code: 0, signal: null }, gw.output().slice(-2000));

    // Another gateway and a worker take over: the accepted job is not lost.
    Object.assign(process.env, baseEnv, env, { LOG_LEVEL: 'silent' });
    const config = loadConfig({ ...baseEnv, ...env, LOG_LEVEL: 'silent' });
    const worker = startBullmqWorker(config, PROCESSOR_FILE);
    const next = await startServer(config);
    try {
      const done = await waitFor(async () => {
        const s = await json(await fetch(`${next.url}/v1/explanations/${id}`));
        return s.body['status'] === 'completed' ? s : undefined;
      }, 60_000);
      assert.equal(done.body['id'], id);
    } finally {
      await next.close();
      await worker.close();
    }
  } finally {
    await queue.close();
    redis.disconnect();
  }
});
