// What the gateway's routes share: configuration, the job backend, the model registry, metrics.
import { type Config } from '../config/config.js';
import { type BlobStore, type JobQueue } from '../jobs/interfaces.js';
import { type ModelRegistry } from '../models/registry.js';
import { type Lifecycle } from './lifecycle.js';

export interface GatewayDeps {
  config: Config;
  queue: JobQueue;
  store: BlobStore;
  registry: ModelRegistry;
  mode: 'embedded' | 'redis';
  /** Shutdown state (draining); buildApp makes one when none is given. */
  lifecycle?: Lifecycle;
}

export { createMetrics, type Metrics } from './metrics.js';
