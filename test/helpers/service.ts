// A real saliency-server for tests: the gateway on an ephemeral port, with the embedded queue or
// with BullMQ on the machine's Redis (a fresh queue name and key prefix per service, removed at
// close) and an in-process BullMQ worker. Worker threads read their configuration from the
// environment, so the service sets it before anything starts.
import { Redis } from 'ioredis';
import { join } from 'node:path';
import { type Config, loadConfig } from '../../src/config/config.js';
import { buildApp } from '../../src/gateway/app.js';
import { createJobsBackend, type JobsBackend, startBullmqWorker } from '../../src/jobs/index.js';
import { ModelRegistry } from '../../src/models/registry.js';
import { createModelChecker } from '../../src/worker/check-models.js';
import { PROCESSOR_FILE } from '../../src/worker/index.js';
import { FIXTURES } from './paths.js';

export const REDIS_URL = 'redis://127.0.0.1:6379';
export const SERVICE_MODELS = join(FIXTURES, 'service-models');

export interface TestService {
  url: string;
  config: Config;
  backend: JobsBackend;
  close(): Promise<void>;
}

export async function startService(
  mode: 'embedded' | 'redis',
  overrides: Partial<Record<keyof Config, string>> = {},
  /** worker: false starts a gateway without the in-process BullMQ worker (redis mode). */
  options: { checkModels?: boolean; worker?: boolean } = {},
): Promise<TestService> {
  const unique = `test-${process.pid}-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  const env: Record<string, string> = {
    MODELS_DIR: SERVICE_MODELS,
    CACHE_DIR: join(FIXTURES, '..', '..', '.cache', 'test-compiled'),
    LOG_LEVEL: 'silent',
    ORT_THREADS: '1',
    RATE_LIMIT_PER_MINUTE: '0',
    // Threads start on demand unless a test asks for a warm-up (warm-up.test.ts).
    WARMUP_METHODS: '',
    QUEUE_NAME: unique,
    KEY_PREFIX: unique,
    JOB_LOCK_MS: '5000',
    STALLED_INTERVAL_MS: '2000',
    ...(mode === 'redis' ? { REDIS_URL } : {}),
    ...overrides,
  };
  if (mode === 'embedded') delete process.env['REDIS_URL'];
  Object.assign(process.env, env);
  const config = loadConfig(env);
  // With checkModels, the registry is the running service's: every model compiled once, facts attached.
  const registry = options.checkModels ? await createModelChecker(config).scan() : ModelRegistry.load(config.MODELS_DIR);
  const backend = createJobsBackend(config, { processorFile: PROCESSOR_FILE });
  const worker = mode === 'redis' && options.worker !== false ? startBullmqWorker(config, PROCESSOR_FILE) : undefined;
  const app = await buildApp({ config, registry, queue: backend.queue, store: backend.store, mode: backend.mode });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    config,
    backend,
    async close() {
      await app.close();
      await worker?.close();
      await backend.close();
      if (mode === 'redis') await removeKeys(unique);
    },
  };
}

export async function removeKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (found.length > 0) await redis.unlink(...found);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
