// The jobs backend for a configuration: BullMQ and Redis when REDIS_URL is set (distributed),
// otherwise the in-process queue and memory store (embedded). Same contract either way.
import { BullmqJobQueue, type BullmqQueueConfig } from './bullmq-queue.js';
import { EmbeddedJobQueue, type EmbeddedQueueConfig } from './embedded-queue.js';
import { type BlobStore, type JobQueue } from './interfaces.js';
import { MemoryBlobStore } from './memory-store.js';
import { type JobsLogger } from './redis.js';
import { RedisBlobStore } from './redis-store.js';

export type JobsConfig = BullmqQueueConfig & EmbeddedQueueConfig & { EMBEDDED_STORE_MB?: number };

export interface JobsBackend {
  queue: JobQueue;
  store: BlobStore;
  mode: 'embedded' | 'redis';
  /** Embedded with a warm-up: the first job thread's model check (see EmbeddedJobQueue.checkedModels). */
  checkedModels?: Promise<unknown>;
  /** Closes the queue (draining running embedded jobs), then the store. */
  close(): Promise<void>;
}

export interface JobsBackendOptions {
  /**
   * ES module exporting `processJob: JobProcessor`, run in worker threads by the embedded queue
   * (the distributed mode runs it in worker processes: see startBullmqWorker).
   */
  processorFile: string;
  logger?: JobsLogger;
  /** Memory store cap in embedded mode (default: EMBEDDED_STORE_MB, else 512 MiB). */
  maxStoreBytes?: number;
}

export function createJobsBackend(config: JobsConfig, options: JobsBackendOptions): JobsBackend {
  const { logger } = options;
  const backend = config.REDIS_URL
    ? { mode: 'redis' as const, queue: new BullmqJobQueue(config, logger), store: new RedisBlobStore(config.REDIS_URL, config.KEY_PREFIX, { logger }) }
    : embedded(config, options);
  return {
    ...backend,
    close: async () => {
      await backend.queue.close();
      await backend.store.close();
    },
  };
}

export { startBullmqWorker, type JobWorker, type BullmqWorkerConfig, type WorkerState } from './bullmq-worker.js';
export { BullmqJobQueue } from './bullmq-queue.js';
export { EmbeddedJobQueue } from './embedded-queue.js';
export { MemoryBlobStore, BlobTooLargeError, StoreFullError } from './memory-store.js';
export { RedisBlobStore } from './redis-store.js';
export { JOB_CANCELLED, JOB_FAILED, SHUT_DOWN, WORKER_CRASHED } from './job-errors.js';
export { type JobsLogger } from './redis.js';
export * from './interfaces.js';

function embedded(config: JobsConfig, { processorFile, logger, maxStoreBytes }: JobsBackendOptions) {
  const maxBytes = maxStoreBytes ?? (config.EMBEDDED_STORE_MB === undefined ? undefined : config.EMBEDDED_STORE_MB * 1024 * 1024);
  const store = new MemoryBlobStore(maxBytes === undefined ? {} : { maxBytes });
  const queue = new EmbeddedJobQueue(config, processorFile, store, logger);
  return { mode: 'embedded' as const, queue, store, checkedModels: queue.checkedModels };
}
