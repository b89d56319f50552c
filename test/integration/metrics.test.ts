// Prometheus metrics through real HTTP: the gateway's /metrics after real jobs (embedded mode,
// where the worker families are aggregated in-process), METRICS_TOKEN, and a worker process's
// metrics server and heartbeat.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createJobMetrics } from '../../src/jobs/job-metrics.js';
import { HEARTBEAT_STALE_MS, checkHeartbeat, startHeartbeat } from '../../src/worker/heartbeat.js';
import { createWorkerMetrics, serveWorkerMetrics } from '../../src/worker/metrics-server.js';
import { submit, testImage, waitFor } from '../helpers/http.js';
import { ROOT } from '../helpers/paths.js';
import { type TestService, startService } from '../helpers/service.js';

const TOKEN = 'scrape-me';

/** One sample's value from the exposition text, by metric name and label subset. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.split(' ').at(-1));
  }
  return undefined;
}

describe('gateway /metrics', () => {
  let service: TestService;
  before(async () => {
    service = await startService('embedded', { METRICS_TOKEN: TOKEN });
  });
  after(() => service.close());

  const scrape = async () => (await fetch(`${service.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();

  test('needs the token when one is configured', async () => {
    assert.equal((await fetch(`${service.url}/metrics`)).status, 401);
    assert.equal((await fetch(`${service.url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    const ok = await fetch(`${service.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get('content-type') ?? '', /^text\/plain/);
  });

  test('process metrics, request duration by route pattern, errors by code, job histograms by method', async () => {
    const image = await testImage();
    const r = await submit(service.url, { method: 'gradient' }, [{ field: 'image', bytes: image, name: 'x.png', type: 'image/png' }], '?wait=30');
    const id = (r.body['explanations'] as { id: string }[])[0]?.id;
    assert.ok(id);
    assert.equal((await fetch(`${service.url}/v1/explanations/${id}`)).status, 200);
    assert.equal((await fetch(`${service.url}/no/such/route`)).status, 404);
    assert.equal((await fetch(`${service.url}/v1/models/not-a-model`)).status, 404);

    const text = await waitFor(async () => {
      const t = await scrape();
      return sample(t, 'saliency_worker_queue_wait_seconds_count', { method: 'gradient' }) === 1 ? t : undefined;
    });
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      assert.ok(sample(text, name) !== undefined, `${name} is exported`);
    }
    // The route label is the pattern: one series for every explanation id.
    assert.equal(sample(text, 'saliency_http_request_duration_seconds_count', { route: '/v1/explanations/:id', status_code: '200' }), 1);
    assert.ok((sample(text, 'saliency_http_request_duration_seconds_count', { route: '/v1/explanations', method: 'POST' }) ?? 0) >= 1);
    assert.doesNotMatch(text, new RegExp(`route="[^"]*${id}`));
    assert.equal(sample(text, 'saliency_http_errors_total', { code: 'SALIENCY_NO_ROUTE', status_code: '404' }), 1);
    assert.equal(sample(text, 'saliency_http_errors_total', { code: 'SALIENCY_UNKNOWN_MODEL' }), 1);
    assert.equal(sample(text, 'saliency_jobs_submitted_total', { method: 'gradient' }), 1);
    assert.equal(sample(text, 'saliency_jobs_finished_total', { state: 'completed', method: 'gradient' }), 1);
    assert.equal(sample(text, 'saliency_job_compute_seconds_count', { method: 'gradient' }), 1);
    assert.equal(sample(text, 'saliency_job_queue_wait_seconds_count', { method: 'gradient' }), 1);
    assert.equal(sample(text, 'saliency_worker_jobs_total', { state: 'completed', method: 'gradient' }), 1);
    assert.equal(sample(text, 'saliency_worker_job_compute_seconds_count', { method: 'gradient' }), 1);
    assert.ok((sample(text, 'saliency_job_compute_seconds_sum', { method: 'gradient' }) ?? 0) > 0);
    assert.ok((sample(text, 'saliency_workers') ?? 0) >= 1);
    assert.equal(sample(text, 'saliency_models'), 1);
  });

  test('the Grafana dashboard charts only metrics the service exports', async () => {
    const exported = new Set([...(await scrape()).matchAll(/^# TYPE (\S+) (\w+)$/gm)].map((m) => m[1] as string));
    const dashboard = JSON.parse(readFileSync(join(ROOT, 'docs', 'grafana-dashboard.json'), 'utf8')) as { panels: { targets?: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    assert.ok(exprs.length >= 10);
    for (const expr of exprs) {
      for (const m of expr.matchAll(/\b(saliency_\w+|process_\w+|nodejs_\w+)/g)) {
        const name = (m[1] as string).replace(/_(bucket|count|sum)$/, '');
        assert.ok(exported.has(name), `the dashboard queries ${m[1]}, which /metrics does not export`);
      }
    }
  });
});

describe('worker metrics server', () => {
  test('serves /metrics with the job families, behind the token, and nothing else', async () => {
    const metrics = createWorkerMetrics();
    metrics.jobs.observe({ method: 'smoothgrad', model: 'tiny', state: 'completed', waitSeconds: 0.2, computeSeconds: 1.5 });
    metrics.jobs.observe({ method: 'smoothgrad', model: 'tiny', state: 'failed', code: 'SALIENCY_BAD_LAYER', waitSeconds: 0.1 });
    const { server, port } = await serveWorkerMetrics(metrics, 0, TOKEN, '127.0.0.1');
    try {
      const url = `http://127.0.0.1:${port}`;
      assert.equal((await fetch(`${url}/metrics`)).status, 401);
      assert.equal((await fetch(`${url}/other`)).status, 404);
      const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
      assert.equal(sample(text, 'saliency_worker_jobs_total', { state: 'completed', method: 'smoothgrad' }), 1);
      assert.equal(sample(text, 'saliency_worker_job_failures_total', { code: 'SALIENCY_BAD_LAYER' }), 1);
      assert.equal(sample(text, 'saliency_worker_queue_wait_seconds_count', { method: 'smoothgrad' }), 2);
      assert.equal(sample(text, 'saliency_worker_job_compute_seconds_sum', { method: 'smoothgrad' }), 1.5);
      assert.ok(sample(text, 'process_resident_memory_bytes') !== undefined);
    } finally {
      server.close();
    }
  });

  test('job metric families can share a registry under different prefixes', () => {
    const { register } = createWorkerMetrics();
    assert.doesNotThrow(() => createJobMetrics(register, 'saliency_other'));
  });
});

describe('worker heartbeat', () => {
  const dir = mkdtempSync(join(tmpdir(), 'saliency-heartbeat-'));

  test('healthy while beating and connected, unhealthy when missing, stale, warming up or disconnected', async () => {
    const file = join(dir, 'beat');
    assert.match(checkHeartbeat(file) ?? '', /no heartbeat/);
    const warming = join(dir, 'warming');
    const stopWarming = startHeartbeat(warming, async () => 'warming');
    await waitFor(async () => (/still warming up/.test(checkHeartbeat(warming) ?? '') ? true : undefined), 5000, 20);
    stopWarming();
    const stop = startHeartbeat(file, async () => 'ready');
    await waitFor(async () => (checkHeartbeat(file) === undefined ? true : undefined), 5000, 20);
    assert.match(checkHeartbeat(file, Date.now() + HEARTBEAT_STALE_MS + 1000) ?? '', /old/);
    stop();
    assert.match(checkHeartbeat(file) ?? '', /no heartbeat/, 'a stopped worker removes its file');

    const disconnected = join(dir, 'never');
    const stopDisconnected = startHeartbeat(disconnected, async () => 'down');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.match(checkHeartbeat(disconnected) ?? '', /no heartbeat/);
    stopDisconnected();
    writeFileSync(join(dir, 'garbage'), 'not json');
    assert.match(checkHeartbeat(join(dir, 'garbage')) ?? '', /no heartbeat/);
  });
});
