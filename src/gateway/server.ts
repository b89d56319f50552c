// The gateway process: logger, job backend, listen, graceful close. Everything else is app.ts.
import pino from 'pino';
import { type Config, loadConfig } from '../config/config.js';
import { createJobsBackend } from '../jobs/index.js';
import { announceRescan } from '../models/rescan-signal.js';
import { type ModelRegistry } from '../models/registry.js';
import { createModelChecker } from '../worker/check-models.js';
import { PROCESSOR_FILE } from '../worker/index.js';
import { buildApp } from './app.js';

export interface RunningServer {
  url: string;
  /** Reads MODELS_DIR again (what SIGHUP does): new and changed models are checked, then served. */
  rescan(): Promise<void>;
  close(): Promise<void>;
}

function logModels(logger: pino.Logger, registry: ModelRegistry, message: string): void {
  const unavailable = registry.unavailable().map((u) => ({ id: u.id, code: u.code, reason: u.reason }));
  logger.info({ models: registry.list().map((m) => m.id), unavailable }, message);
  for (const u of unavailable) logger.warn(u, 'model unavailable');
}

export async function startServer(config: Config = loadConfig()): Promise<RunningServer> {
  const logger = pino({ level: config.LOG_LEVEL, name: 'gateway', redact: ['req.headers.authorization', 'req.headers["x-api-key"]'] });
  // Every model is opened and compiled once (in a worker thread) before it is listed as usable.
  const checker = createModelChecker(config);
  const registry = await checker.scan();
  const backend = createJobsBackend(config, { processorFile: PROCESSOR_FILE, logger });
  const app = await buildApp({ config, registry, queue: backend.queue, store: backend.store, mode: backend.mode }, { logger });
  app.server.requestTimeout = 120_000; // uploads and `Prefer: wait` stay under this
  const address = await app.listen({ host: config.HOST, port: config.PORT });
  logger.info({ address, mode: backend.mode, models: registry.list().map((m) => m.id) }, 'saliency-server listening');
  for (const u of registry.unavailable()) logger.warn({ id: u.id, code: u.code, reason: u.reason }, 'model unavailable');
  let closing: Promise<void> | undefined;
  let rescans = Promise.resolve();
  return {
    url: address,
    rescan: () =>
      (rescans = rescans.then(async () => {
        try {
          registry.replaceWith(await checker.scan(registry));
          announceRescan(); // this process's worker threads (embedded queue) read the folder again
          logModels(logger, registry, 'models rescanned');
        } catch (err) {
          logger.error({ err }, 'rescan failed; serving the models of the last scan');
        }
      })),
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
    // SIGHUP: rescan MODELS_DIR without a restart (nginx's convention for "reload").
    const reload = () => void server.rescan();
    process.on('SIGHUP', reload);
    process.once('SIGTERM', () => (process.off('SIGHUP', reload), stop()));
    process.once('SIGINT', () => (process.off('SIGHUP', reload), stop()));
  });
}
