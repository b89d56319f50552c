// A real `saliency worker` process: its heartbeat makes `saliency worker --health` pass (the
// compose healthcheck), its metrics are served on WORKER_METRICS_PORT behind METRICS_TOKEN, and
// after SIGTERM the check fails.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitFor } from '../helpers/http.js';
import { CLI } from '../helpers/paths.js';
import { REDIS_URL, SERVICE_MODELS, removeKeys } from '../helpers/service.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 0;
}

test('worker heartbeat, --health and metrics port', async () => {
  const unique = `test-health-${process.pid}-${Date.now()}`;
  const port = await freePort();
  const env = {
    ...process.env,
    REDIS_URL,
    QUEUE_NAME: unique,
    KEY_PREFIX: unique,
    MODELS_DIR: SERVICE_MODELS,
    LOG_LEVEL: 'silent',
    WORKER_METRICS_PORT: String(port),
    METRICS_TOKEN: 'token',
    WORKER_HEARTBEAT_FILE: join(mkdtempSync(join(tmpdir(), 'saliency-health-')), 'heartbeat'),
  };
  const health = () => spawnSync(process.execPath, [CLI, 'worker', '--health'], { env, encoding: 'utf8' });
  const before = health();
  assert.equal(before.status, 1);
  assert.match(before.stderr, /^saliency worker: unhealthy: no heartbeat/);
  assert.equal(before.stderr.trim().split('\n').length, 1, 'one line');

  const worker = spawn(process.execPath, [CLI, 'worker'], { env, stdio: 'ignore' });
  try {
    await waitFor(async () => (health().status === 0 ? true : undefined), 30_000, 200);
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: 'Bearer token' } });
    assert.equal(metrics.status, 200);
    const text = await metrics.text();
    assert.match(text, /^# TYPE saliency_worker_jobs_total counter$/m);
    assert.match(text, /^process_resident_memory_bytes \d+/m);
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 401);
  } finally {
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.kill('SIGTERM');
    await exited;
    await removeKeys(unique);
  }
  assert.equal(health().status, 1, 'a stopped worker is unhealthy');
});
