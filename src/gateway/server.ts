// The gateway process: logger, job backend, listen, graceful close. Everything else is app.ts.
//
// Shutdown (SIGTERM/SIGINT), in this order:
// 1. drain: POST and /readyz answer 503 SALIENCY_SHUTTING_DOWN; requests waiting with
//    `Prefer: wait` are answered at once with 202 and their job ids;
// 2. embedded mode: the accepted jobs run on (status polls are still answered) until they are
//    done or SHUTDOWN_TIMEOUT_MS has passed; then the running ones stop at their next graph run
//    (see embedded-queue.ts: a thread inside ONNX Runtime is never terminated, which would abort
//    the process). Distributed mode: the jobs live in Redis and run on worker processes;
// 3. the HTTP server closes: in-flight requests finish, long-lived streams (SSE) are cut after
//    HTTP_GRACE_MS;
// 4. the backend closes, and the process exits with code 0.
import pino from 'pino';
import { type Config, loadConfig } from '../config/config.js';
import { createJobsBackend } from '../jobs/index.js';
import { type CheckedModel } from '../models/model-check.js';
import { announceRescan } from '../models/rescan-signal.js';
import { type ModelRegistry } from '../models/registry.js';
import { createModelChecker } from '../worker/check-models.js';
import { PROCESSOR_FILE } from '../worker/index.js';
import { buildApp } from './app.js';
import { Lifecycle } from './lifecycle.js';
import { warmupMethods } from '../worker/warm-up.js';

/** How long in-flight HTTP requests get to finish once the server closes (SSE streams are cut then). */
export const HTTP_GRACE_MS = 5000;
/** Past the drain deadline, how long a stuck shutdown may take before the process is killed. */
export const HARD_STOP_MARGIN_MS = 60_000;

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
  warmupMethods(config.WARMUP_METHODS); // a typo stops the start, before any thread is spawned
  // Every model is opened and compiled once before it is listed as usable: embedded with a warm-up,
  // by the first job thread (which keeps it open for its warm-up and jobs), else in a thread of its own.
  const backend = createJobsBackend(config, { processorFile: PROCESSOR_FILE, logger });
  const checker = createModelChecker(config, backend.checkedModels as Promise<CheckedModel[] | undefined> | undefined);
  let registry: ModelRegistry;
  try {
    registry = await checker.scan();
  } catch (err) {
    await backend.close();
    throw err;
  }
  const lifecycle = new Lifecycle();
  const app = await buildApp({ config, registry, queue: backend.queue, store: backend.store, mode: backend.mode, lifecycle }, { logger });
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
        lifecycle.drain();
        logger.info({ mode: backend.mode }, 'draining: no new work; waiting requests answered with their job ids');
        if (backend.mode === 'embedded') await backend.queue.close();
        const cut = setTimeout(() => app.server.closeAllConnections(), HTTP_GRACE_MS);
        try {
          await app.close();
        } finally {
          clearTimeout(cut);
        }
        await backend.close();
        logger.info('gateway stopped');
      })()),
  };
}

/** Runs until SIGTERM/SIGINT, then drains (see the top) and returns. */
export async function serveUntilSignalled(config: Config = loadConfig()): Promise<void> {
  const server = await startServer(config);
  await new Promise<void>((resolve, reject) => {
    const stop = () => {
      // Only for a shutdown that hangs: process.exit() would abort while a thread is inside
      // ONNX Runtime, so the last resort is the signal nobody can catch.
      const timer = setTimeout(() => process.kill(process.pid, 'SIGKILL'), config.SHUTDOWN_TIMEOUT_MS + HARD_STOP_MARGIN_MS);
      timer.unref();
      server.close().then(resolve, reject);
    };
    // SIGHUP: rescan MODELS_DIR without a restart (nginx's convention for "reload").
    const reload = () => void server.rescan();
    process.on('SIGHUP', reload);
    process.once('SIGTERM', () => (process.off('SIGHUP', reload), stop()));
    process.once('SIGINT', () => (process.off('SIGHUP', reload), stop()));
  });
}
