// What the gateway's routes share: configuration, the job backend, the model registry, metrics.
import { type Config } from '../config/config.js';
import { type BlobStore, type JobQueue } from '../jobs/interfaces.js';
import { type ModelRegistry } from '../models/registry.js';
import { type Lifecycle } from './lifecycle.js';
import { Counter, Gauge, Histogram, MetricsRegistry } from './metrics.js';

export interface GatewayDeps {
  config: Config;
  queue: JobQueue;
  store: BlobStore;
  registry: ModelRegistry;
  mode: 'embedded' | 'redis';
  /** Shutdown state (draining); buildApp makes one when none is given. */
  lifecycle?: Lifecycle;
}

export function createMetrics(deps: Omit<GatewayDeps, 'config'>) {
  const registry = new MetricsRegistry();
  return {
    registry,
    requests: registry.register(new Counter('saliency_http_requests_total', 'HTTP requests by route and status')),
    submitted: registry.register(new Counter('saliency_jobs_submitted_total', 'Jobs accepted, by method and model')),
    finished: registry.register(new Counter('saliency_jobs_finished_total', 'Jobs seen finishing, by state, method and model')),
    compute: registry.register(
      new Histogram('saliency_job_compute_seconds', 'Compute time of completed jobs, by method and model', [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]),
    ),
    depth: registry.register(new Gauge('saliency_queue_depth', 'Jobs waiting to run', async () => [{ value: await deps.queue.depth() }])),
    workers: registry.register(new Gauge('saliency_workers', 'Workers connected to the queue', async () => [{ value: await deps.queue.workers() }])),
    models: registry.register(new Gauge('saliency_models', 'Models installed', async () => [{ value: deps.registry.list().length }])),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
