// A distributed worker process: consumes the BullMQ queue until SIGTERM, then finishes (or hands
// back) its in-flight jobs and exits.
import pino from 'pino';
import { type Config, loadConfig } from '../config/config.js';
import { startBullmqWorker } from '../jobs/index.js';
import { ModelRegistry } from '../models/registry.js';
import { announceRescan } from '../models/rescan-signal.js';
import { observeAttempts } from '../jobs/job-metrics.js';
import { startHeartbeat } from './heartbeat.js';
import { PROCESSOR_FILE } from './index.js';
import { warmupMethods } from './warm-up.js';
import { createWorkerMetrics, serveWorkerMetrics } from './metrics-server.js';

export async function runWorker(config: Config = loadConfig()): Promise<void> {
  const logger = pino({ level: config.LOG_LEVEL, name: 'worker' });
  if (!config.REDIS_URL) throw new Error('saliency worker needs REDIS_URL (without it, `saliency serve` runs jobs in-process)');
  warmupMethods(config.WARMUP_METHODS); // a typo stops the start, before any thread is spawned
  // Broken model folders are named at start (their jobs fail with the reason), not at the first job.
  let registry = ModelRegistry.scan(config.MODELS_DIR);
  const logModels = (message: string) => {
    logger.info(
      { queue: config.QUEUE_NAME, concurrency: config.WORKER_CONCURRENCY, provider: config.EXECUTION_PROVIDER, models: registry.list().map((m) => m.id) },
      message,
    );
    for (const u of registry.unavailable()) logger.warn({ id: u.id, code: u.code, reason: u.reason }, 'model unavailable');
  };
  // With WARMUP_METHODS the job threads warm up first: the worker takes jobs once they are warm.
  const worker = startBullmqWorker(config, PROCESSOR_FILE, logger);
  const metrics = createWorkerMetrics();
  void worker.started.then((w) => w && observeAttempts(w, metrics.jobs));
  const metricsServer = config.WORKER_METRICS_PORT > 0 ? await serveWorkerMetrics(metrics, config.WORKER_METRICS_PORT, config.METRICS_TOKEN) : undefined;
  const stopHeartbeat = startHeartbeat(config.WORKER_HEARTBEAT_FILE, () => worker.state(), worker.waitUntilReady());
  if (metricsServer) logger.info({ port: metricsServer.port }, 'worker metrics on /metrics');
  logModels('worker started');
  // SIGHUP: the job threads read MODELS_DIR again before their next job.
  const reload = () => {
    try {
      registry = ModelRegistry.scan(config.MODELS_DIR, registry);
    } catch (err) {
      logger.error({ err }, 'rescan failed');
    }
    announceRescan();
    logModels('models rescanned');
  };
  process.on('SIGHUP', reload);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGHUP', reload);
      logger.info({ signal }, 'worker stopping: finishing in-flight jobs');
      const timer = setTimeout(() => process.exit(1), config.SHUTDOWN_TIMEOUT_MS);
      timer.unref();
      stopHeartbeat();
      metricsServer?.server.close();
      void worker.close().then(resolve, resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
