// SIGHUP as an operator sends it: the real `saliency serve` (and, distributed, a `saliency worker`)
// in child processes; a model is added with `saliency models add`, another replaced in place, a
// broken one dropped in; after SIGHUP the service lists the new model, explains with the replaced
// one's new weights (its workers reloaded it too), and answers for the broken one with the reason.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { IMAGENET_LABELS } from '../../src/models/imagenet-labels.js';
import { tinyClassifier, writeModel } from '../helpers/classifier-models.js';
import { json, submit, testImage, waitFor } from '../helpers/http.js';
import { CLI } from '../helpers/paths.js';
import { REDIS_URL, SERVICE_MODELS, removeKeys } from '../helpers/service.js';

const work = mkdtempSync(join(tmpdir(), 'saliency-rescan-'));
const prefix = `rescan-${process.pid}-${Date.now()}`;
const children = new Set<ChildProcess>();
after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await removeKeys(prefix);
  rmSync(work, { recursive: true, force: true });
});

const NHWC = writeModel(join(work, 'nhwc.onnx'), tinyClassifier({ layout: 'NHWC', size: 16, classes: 1000 }));
const SIN = writeModel(join(work, 'sine.onnx'), tinyClassifier({ layout: 'NCHW', size: 16, classes: 5, activation: 'Sin' }));
const TINY_LABELS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function start(command: 'serve' | 'worker', env: Record<string, string>): ChildProcess {
  // An empty value removes the variable (embedded mode: no REDIS_URL at all).
  const merged = Object.fromEntries(Object.entries({ ...process.env, ...env }).filter(([, v]) => v !== ''));
  const child = spawn(process.execPath, [CLI, command], { env: merged, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  child.on('exit', (code, signal) => {
    children.delete(child);
    if (code && code !== 0 && signal === null) process.stderr.write(`${command} exited ${code}: ${stderr}\n`);
  });
  children.add(child);
  return child;
}

function modelsAdd(...args: string[]): void {
  const r = spawnSync(process.execPath, [CLI, 'models', 'add', ...args], { encoding: 'utf8', env: { ...process.env, ORT_THREADS: '1' } });
  assert.equal(r.status, 0, r.stderr);
}

async function explainLabel(url: string, model: string): Promise<string | undefined> {
  const r = await submit(url, { model, method: 'gradient' }, [{ field: 'image', bytes: await testImage(40, 30), name: 'a.png' }], '?wait=60');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const e = (r.body['explanations'] as { status: string; prediction?: { label?: string } }[])[0];
  assert.equal(e?.status, 'completed', JSON.stringify(r.body));
  return e?.prediction?.label;
}

for (const mode of ['embedded', 'redis'] as const) {
  test(`${mode}: SIGHUP adds, replaces and refuses models without a restart`, { timeout: 180_000 }, async () => {
    const modelsDir = join(work, `models-${mode}`);
    mkdirSync(modelsDir);
    cpSync(join(SERVICE_MODELS, 'tiny'), join(modelsDir, 'tiny'), { recursive: true });
    cpSync(join(SERVICE_MODELS, 'tiny'), join(modelsDir, 'swap'), { recursive: true });
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const env = {
      MODELS_DIR: modelsDir,
      CACHE_DIR: join(work, `cache-${mode}`),
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      ORT_THREADS: '1',
      RATE_LIMIT_PER_MINUTE: '0',
      ...(mode === 'redis'
        ? { REDIS_URL, QUEUE_NAME: `${prefix}-q`, KEY_PREFIX: prefix, JOB_LOCK_MS: '5000', STALLED_INTERVAL_MS: '2000' }
        : { REDIS_URL: '' }),
    };
    const processes = [start('serve', env), ...(mode === 'redis' ? [start('worker', env)] : [])];
    const ids = async () => {
      const r = await fetch(`${url}/v1/models`).catch(() => undefined);
      if (r?.status !== 200) return undefined;
      return ((await r.json()) as { models: { id: string }[] }).models.map((m) => m.id);
    };
    assert.deepEqual(await waitFor(ids, 60_000, 200), ['swap', 'tiny']);
    assert.ok(TINY_LABELS.includes((await explainLabel(url, 'swap')) as string));

    modelsAdd(NHWC, '--name', 'added', '--models-dir', modelsDir);
    modelsAdd(NHWC, '--name', 'swap', '--force', '--models-dir', modelsDir);
    mkdirSync(join(modelsDir, 'sine'));
    cpSync(SIN, join(modelsDir, 'sine', 'model.onnx'));
    writeFileSync(join(modelsDir, 'sine', 'manifest.json'), JSON.stringify({ input: { size: [16, 16] } }));
    assert.deepEqual(await ids(), ['swap', 'tiny'], 'nothing changes before SIGHUP');

    for (const child of processes) child.kill('SIGHUP');
    await waitFor(async () => ((await ids())?.includes('added') ? true : undefined), 60_000, 200);
    assert.deepEqual(await ids(), ['added', 'swap', 'tiny']);

    const broken = await json(await fetch(`${url}/v1/models/sine`));
    assert.equal(broken.status, 200);
    assert.equal(broken.body['status'], 'unavailable');
    const error = broken.body['error'] as { code: string; message: string };
    assert.equal(error.code, 'SALIENCY_MODEL_UNSUPPORTED');
    assert.match(error.message, /no gradient rule for 1 op type .*\n {2}Sin: 1 node, first n1_Sin/);
    const listed = (await json(await fetch(`${url}/v1/models`))).body['unavailable'] as { id: string }[];
    assert.deepEqual(
      listed.map((u) => u.id),
      ['sine'],
    );
    const refused = await submit(url, { model: 'sine', method: 'gradient' }, [{ field: 'image', bytes: await testImage(), name: 'a.png' }]);
    assert.equal(refused.status, 409);
    assert.equal((refused.body['error'] as { code: string }).code, 'SALIENCY_MODEL_UNSUPPORTED');

    assert.ok(IMAGENET_LABELS.includes((await explainLabel(url, 'added')) as string));
    // The replaced model answers with its new 1000 ImageNet classes: the workers reloaded it.
    assert.ok(IMAGENET_LABELS.includes((await explainLabel(url, 'swap')) as string));

    for (const child of processes) child.kill('SIGTERM');
  });
}
