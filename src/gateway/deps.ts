// What the gateway's routes share: configuration, the job backend, the model registry, metrics.
import { type Config } from '../config/config.js';
import { type BlobStore, type JobQueue } from '../jobs/interfaces.js';
import { type ModelRegistry } from '../models/registry.js';

export interface GatewayDeps {
  config: Config;
  queue: JobQueue;
  store: BlobStore;
  registry: ModelRegistry;
  mode: 'embedded' | 'redis';
}

export { createMetrics, type Metrics } from './metrics.js';
