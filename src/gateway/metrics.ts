// The gateway's Prometheus metrics (prom-client): Node's process metrics, request latency by
// route and status, API errors by code, and the jobs this gateway submitted (queue wait, compute,
// outcomes). In embedded mode the worker threads are this process's, so the worker families
// (`saliency_worker_*`) are exported here too; in distributed mode each worker process serves them.
import { createHash, timingSafeEqual } from 'node:crypto';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { qualityHistograms } from './quality-histograms.js';
import { type JobMetrics, DURATION_BUCKETS, createJobMetrics } from '../jobs/job-metrics.js';
import { type JobQueue } from '../jobs/interfaces.js';
import { type ModelRegistry } from '../models/registry.js';

export interface MetricsSources {
  queue: JobQueue;
  registry: ModelRegistry;
  mode: 'embedded' | 'redis';
}

/** Request latency buckets: from a cached rendering (milliseconds) to a `?wait=60` submission. */
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function createMetrics(sources: MetricsSources) {
  const register = new Registry();
  collectDefaultMetrics({ register });
  const registers = [register];
  const jobLabels = ['method', 'model'] as const;
  return {
    register,
    requestDuration: new Histogram({
      name: 'saliency_http_request_duration_seconds',
      help: 'HTTP request duration by method, route (the route pattern) and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: REQUEST_BUCKETS,
      registers,
    }),
    errors: new Counter({ name: 'saliency_http_errors_total', help: 'Error responses by code and status', labelNames: ['code', 'status_code'], registers }),
    submitted: new Counter({ name: 'saliency_jobs_submitted_total', help: 'Jobs accepted, by method and model', labelNames: jobLabels, registers }),
    finished: new Counter({
      name: 'saliency_jobs_finished_total',
      help: 'Submitted jobs seen finishing, by state, method and model',
      labelNames: ['state', ...jobLabels],
      registers,
    }),
    failures: new Counter({
      name: 'saliency_job_failures_total',
      help: 'Submitted jobs that failed, by error code and method',
      labelNames: ['code', 'method'],
      registers,
    }),
    queueWait: new Histogram({
      name: 'saliency_job_queue_wait_seconds',
      help: 'Time from submission to the start of the last attempt',
      labelNames: jobLabels,
      buckets: DURATION_BUCKETS,
      registers,
    }),
    compute: new Histogram({
      name: 'saliency_job_compute_seconds',
      help: 'Compute time of completed jobs, by method and model',
      labelNames: jobLabels,
      buckets: DURATION_BUCKETS,
      registers,
    }),
    /** Explanation-quality metrics of completed jobs that asked for them. */
    quality: qualityHistograms(register),
    /** The worker threads' own families, in embedded mode only. */
    worker: sources.mode === 'embedded' ? createJobMetrics(register, 'saliency_worker') : undefined,
    gauges: [
      gauge(register, 'saliency_queue_depth', 'Jobs waiting to run', () => sources.queue.depth()),
      gauge(register, 'saliency_workers', 'Workers connected to the queue (embedded: its threads)', () => sources.queue.workers()),
      gauge(register, 'saliency_models', 'Models installed', async () => sources.registry.list().length),
    ],
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
export type { JobMetrics };

/** A gauge read at scrape time; a backend outage shows as a missing sample, not a failed scrape. */
function gauge(register: Registry, name: string, help: string, read: () => Promise<number>): Gauge {
  return new Gauge({
    name,
    help,
    registers: [register],
    async collect() {
      try {
        this.set(await read());
      } catch {
        this.reset();
      }
    },
  });
}

/** Whether a /metrics request may read: no token configured, or `Authorization: Bearer <token>`. */
export function metricsAuthorized(token: string, authorization: string | undefined): boolean {
  if (token === '') return true;
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return authorization !== undefined && timingSafeEqual(digest(authorization), digest(`Bearer ${token}`));
}
