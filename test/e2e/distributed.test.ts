// The distributed mode as an operator runs it: a gateway process and two worker processes on
// Redis. 30 jobs; one worker is SIGKILLed mid-run: all 30 complete (stalled-job recovery). Then
// the gateway restarts: every result is still there.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { after, test } from 'node:test';
import { json, submit, testImage, waitFor } from '../helpers/http.js';
import { CLI } from '../helpers/paths.js';
import { REDIS_URL, SERVICE_MODELS, removeKeys } from '../helpers/service.js';

const prefix = `e2e-${process.pid}-${Date.now()}`;
const children = new Set<ChildProcess>();
after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await removeKeys(prefix);
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function start(command: 'serve' | 'worker', env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [CLI, command], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  child.on('exit', (code, signal) => {
    children.delete(child);
    if (code && code !== 0 && signal === null) process.stderr.write(`${command} exited ${code}: ${stderr}\n`);
  });
  children.add(child);
  return child;
}

test('30 jobs survive a SIGKILLed worker and a gateway restart', { timeout: 240_000 }, async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = {
    REDIS_URL,
    QUEUE_NAME: prefix,
    KEY_PREFIX: prefix,
    MODELS_DIR: SERVICE_MODELS,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    ORT_THREADS: '1',
    RATE_LIMIT_PER_MINUTE: '0',
    JOB_LOCK_MS: '3000',
    STALLED_INTERVAL_MS: '1000',
    SHUTDOWN_TIMEOUT_MS: '5000',
  };
  let gateway = start('serve', env);
  const workers = [start('worker', env), start('worker', env)];
  await waitFor(async () => ((await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200 ? true : undefined), 60_000, 200);

  const image = await testImage();
  const ids: string[] = [];
  for (let i = 0; i < 30; i++) {
    const r = await submit(url, { method: 'smoothgrad', samples: '300', seed: String(i) }, [{ field: 'image', bytes: image, name: `${i}.png` }]);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    ids.push((r.body['explanations'] as { id: string }[])[0]?.id as string);
  }
  const states = async () => Promise.all(ids.map(async (id) => (await json(await fetch(`${url}/v1/explanations/${id}`))).body['status'] as string));

  // Kill one worker while it holds a job.
  await waitFor(async () => ((await states()).filter((s) => s === 'completed').length >= 3 ? true : undefined), 120_000, 200);
  const victim = workers[0] as ChildProcess;
  victim.kill('SIGKILL');
  await new Promise((resolve) => victim.once('exit', resolve));

  const final = await waitFor(
    async () => {
      const s = await states();
      return s.every((x) => x === 'completed' || x === 'failed') ? s : undefined;
    },
    180_000,
    500,
  );
  assert.deepEqual(
    final.filter((s) => s !== 'completed'),
    [],
    'every job completes',
  );

  // Restart the gateway: results and renderings are still there.
  gateway.kill('SIGTERM');
  await new Promise((resolve) => gateway.once('exit', resolve));
  gateway = start('serve', env);
  await waitFor(async () => ((await fetch(`${url}/healthz`).catch(() => undefined))?.status === 200 ? true : undefined), 60_000, 200);
  assert.deepEqual(
    await states(),
    ids.map(() => 'completed'),
  );
  const heat = await fetch(`${url}/v1/explanations/${ids[0]}/heatmap.png`);
  assert.equal(heat.status, 200);
  const attempts = await Promise.all(ids.map(async (id) => (await json(await fetch(`${url}/v1/explanations/${id}`))).body['attempts'] as number));
  process.stdout.write(`# jobs retried after the kill: ${attempts.filter((a) => a > 1).length}\n`);
});
