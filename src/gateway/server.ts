// The gateway process: logger, job backend, listen, graceful close. Everything else is app.ts.
import pino from 'pino';
import { type Config, loadConfig } from '../config/config.js';
import { createJobsBackend } from '../jobs/index.js';
import { ModelRegistry } from '../models/registry.js';
import { PROCESSOR_FILE } from '../worker/index.js';
import { buildApp } from './app.js';

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

export async function startServer(config: Config = loadConfig()): Promise<RunningServer> {
  const logger = pino({ level: config.LOG_LEVEL, name: 'gateway', redact: ['req.headers.authorization', 'req.headers["x-api-key"]'] });
  const registry = ModelRegistry.load(config.MODELS_DIR);
  const backend = createJobsBackend(config, { processorFile: PROCESSOR_FILE, logger });
  const app = await buildApp({ config, registry, queue: backend.queue, store: backend.store, mode: backend.mode }, { logger });
  app.server.requestTimeout = 120_000; // uploads and `Prefer: wait` stay under this
  const address = await app.listen({ host: config.HOST, port: config.PORT });
  logger.info({ address, mode: backend.mode, models: registry.list().map((m) => m.id) }, 'saliency-server listening');
  let closing: Promise<void> | undefined;
  return {
    url: address,
    close: () =>
      (closing ??= (async () => {
        await app.close(); // stops accepting; in-flight requests finish
        await backend.close(); // embedded: drains running jobs
      })()),
  };
}

/** Runs until SIGTERM/SIGINT, then closes within SHUTDOWN_TIMEOUT_MS. */
export async function serveUntilSignalled(config: Config = loadConfig()): Promise<void> {
  const server = await startServer(config);
  await new Promise<void>((resolve) => {
    const stop = () => {
      const timer = setTimeout(() => process.exit(1), config.SHUTDOWN_TIMEOUT_MS);
      timer.unref();
      void server.close().then(resolve, resolve);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
