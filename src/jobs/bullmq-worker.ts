// The BullMQ consumer of a worker process. Jobs run in BullMQ's sandbox on worker threads
// (sandbox-adapter.js loads the processor there), so a blocking ONNX Runtime run() never stops
// this process from renewing its job locks. This process also polls each active job's cancel
// marker and aborts the job's signal, which the processor reads through io.cancelled().
import { type Job, UnrecoverableError, Worker, type WorkerOptions } from 'bullmq';
import { type Redis } from 'ioredis';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { type JobPayload, type JobResult } from './contract.js';
import { cancelKey } from './bullmq-queue.js';
import { cancelledError, type Classified, classifyError, crashedError, encodeJobError } from './job-errors.js';
import { closeRedis, createRedis, type JobsLogger } from './redis.js';
import { type SandboxData } from './sandbox-adapter.js';
import { adoptThreads, startWarmThreads } from './warm-threads.js';

export interface BullmqWorkerConfig {
  REDIS_URL?: string;
  QUEUE_NAME: string;
  KEY_PREFIX: string;
  WORKER_CONCURRENCY: number;
  JOB_ATTEMPTS: number;
  JOB_LOCK_MS: number;
  STALLED_INTERVAL_MS: number;
  /** Non-empty: the job threads start (and the processor warms up in each) before the worker takes jobs. */
  WARMUP_METHODS?: string;
}

/** How often a running job's cancel marker is checked. */
export const CANCEL_POLL_MS = 250;

/** warming: the job threads are still warming up; ready: consuming the queue, Redis connected; down: neither. */
export type WorkerState = 'warming' | 'ready' | 'down';

export interface JobWorker {
  /** The BullMQ worker once it consumes the queue (after the warm-up); undefined when closed before. */
  readonly started: Promise<Worker<JobPayload, JobResult> | undefined>;
  state(): Promise<WorkerState>;
  /** Resolves once warm and connected to Redis (useful in tests). */
  waitUntilReady(): Promise<void>;
  /** Stops fetching jobs, waits for the running ones to finish, then closes the connections. */
  close(): Promise<void>;
}

const ADAPTER_FILE = fileURLToPath(new URL('./sandbox-adapter.js', import.meta.url));

/**
 * Starts consuming QUEUE_NAME. `processorFile` is an ES module exporting `processJob: JobProcessor`;
 * it is loaded once per worker thread (WORKER_CONCURRENCY threads at most) and kept between jobs.
 * With WARMUP_METHODS, the threads start first and the worker is created once they are warm: until
 * then it takes no job and the queue does not list it among its workers.
 */
export function startBullmqWorker(config: BullmqWorkerConfig, processorFile: string, logger?: JobsLogger): JobWorker {
  const redisUrl = config.REDIS_URL;
  if (!redisUrl) throw new Error('startBullmqWorker needs REDIS_URL');
  const stopWarmUp = new SharedArrayBuffer(4);
  const workerThreadsOptions = { workerData: { processorFile, redisUrl, keyPrefix: config.KEY_PREFIX, stopWarmUp } satisfies SandboxData };
  const t0 = performance.now();
  const threads = config.WARMUP_METHODS?.trim()
    ? startWarmThreads(config.WORKER_CONCURRENCY, ADAPTER_FILE, workerThreadsOptions, new Int32Array(stopWarmUp), (err) =>
        logger?.error({ err }, 'job thread failed'),
      )
    : undefined;
  let closed = false;
  let connection: Redis | undefined;
  let worker: SaliencyWorker | undefined;
  const started = (async () => {
    const warm = (await threads?.ready) ?? [];
    if (closed) {
      await threads?.kill();
      return undefined;
    }
    if (threads) logger?.info({ threads: warm.length, ms: Math.round(performance.now() - t0) }, 'job threads warmed up; taking jobs');
    connection = createRedis(redisUrl, 'worker', logger);
    worker = new SaliencyWorker(
      config.QUEUE_NAME,
      {
        connection,
        prefix: config.KEY_PREFIX,
        autorun: false,
        concurrency: config.WORKER_CONCURRENCY,
        lockDuration: config.JOB_LOCK_MS,
        stalledInterval: config.STALLED_INTERVAL_MS,
        maxStalledCount: config.JOB_ATTEMPTS,
        useWorkerThreads: true,
        workerThreadsOptions,
      },
      connection,
      config.KEY_PREFIX,
      logger,
    );
    adoptThreads(worker, warm);
    worker.on('error', (err) => logger?.error({ err }, 'job worker error'));
    worker.on('failed', (job, err) => logger?.warn({ jobId: job?.id, model: job?.data.model, attempt: job?.attemptsMade, err }, 'job attempt failed'));
    worker.run().catch((err: unknown) => logger?.error({ err }, 'job worker stopped'));
    return worker;
  })();
  let closing: Promise<void> | undefined;
  return {
    started,
    state: async () => {
      if (!worker) return closed ? 'down' : 'warming';
      return worker.isRunning() && (await worker.client).status === 'ready' ? 'ready' : 'down';
    },
    waitUntilReady: async () => {
      await (await started)?.waitUntilReady();
    },
    close: () =>
      (closing ??= (async () => {
        closed = true;
        // During the warm-up nothing runs yet; once started, the threads are the worker's to drain.
        if (!worker) await threads?.kill();
        await (await started)?.close();
        if (connection) await closeRedis(connection);
      })()),
  };
}

class SaliencyWorker extends Worker<JobPayload, JobResult> {
  constructor(
    name: string,
    opts: WorkerOptions,
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly log?: JobsLogger,
  ) {
    super(name, ADAPTER_FILE, opts);
  }

  protected override async callProcessJob(job: Job<JobPayload, JobResult>, token: string, signal?: AbortSignal): Promise<JobResult> {
    const id = job.id as string;
    const stopWatching = this.watchCancel(id);
    let outcome: Classified;
    try {
      const result = await super.callProcessJob(job, token, signal);
      // The marker may have appeared after the last poll: look once more before BullMQ stores it.
      if (signal?.aborted !== true && (await this.redis.exists(cancelKey(this.keyPrefix, id))) === 0) return result;
      // Cancelled after its last check: the client was told it is cancelled, so it is.
      outcome = { error: cancelledError(), retry: false };
    } catch (err) {
      const message = err instanceof Error ? err.message : '';
      // sandbox.js rejects with this when the thread exits mid-job (process.exit, fatal error).
      if (message.startsWith('Unexpected exit code')) outcome = { error: crashedError(message), retry: true };
      else outcome = classifyError(err);
      if (signal?.aborted === true) outcome = { error: cancelledError(), retry: false };
    } finally {
      stopWatching();
    }
    const reason = encodeJobError(outcome.error);
    throw outcome.retry ? new Error(reason) : new UnrecoverableError(reason);
  }

  /** Polls the job's cancel marker and aborts the job's signal when it appears. */
  private watchCancel(id: string): () => void {
    let busy = false;
    const check = () => {
      if (busy) return;
      busy = true;
      this.redis
        .exists(cancelKey(this.keyPrefix, id))
        .then((found) => {
          if (found === 1) this.cancelJob(id, 'cancelled');
        })
        .catch((err: unknown) => this.log?.warn({ err, jobId: id }, 'cancel check failed'))
        .finally(() => {
          busy = false;
        });
    };
    check();
    const timer = setInterval(check, CANCEL_POLL_MS);
    return () => clearInterval(timer);
  }
}
