// The BullMQ consumer of a worker process. Jobs run in BullMQ's sandbox on worker threads
// (sandbox-adapter.js loads the processor there), so a blocking ONNX Runtime run() never stops
// this process from renewing its job locks. This process also polls each active job's cancel
// marker and aborts the job's signal, which the processor reads through io.cancelled().
import { type Job, UnrecoverableError, Worker, type WorkerOptions } from 'bullmq';
import { type Redis } from 'ioredis';
import { fileURLToPath } from 'node:url';
import { type JobPayload, type JobResult } from './contract.js';
import { cancelKey } from './bullmq-queue.js';
import { cancelledError, type Classified, classifyError, crashedError, encodeJobError } from './job-errors.js';
import { closeRedis, createRedis, type JobsLogger } from './redis.js';
import { type SandboxData } from './sandbox-adapter.js';

export interface BullmqWorkerConfig {
  REDIS_URL?: string;
  QUEUE_NAME: string;
  KEY_PREFIX: string;
  WORKER_CONCURRENCY: number;
  JOB_ATTEMPTS: number;
  JOB_LOCK_MS: number;
  STALLED_INTERVAL_MS: number;
}

/** How often a running job's cancel marker is checked. */
export const CANCEL_POLL_MS = 250;

export interface JobWorker {
  readonly worker: Worker<JobPayload, JobResult>;
  /** Resolves once connected to Redis (useful in tests). */
  waitUntilReady(): Promise<void>;
  /** Stops fetching jobs, waits for the running ones to finish, then closes the connections. */
  close(): Promise<void>;
}

const ADAPTER_FILE = fileURLToPath(new URL('./sandbox-adapter.js', import.meta.url));

/**
 * Starts consuming QUEUE_NAME. `processorFile` is an ES module exporting `processJob: JobProcessor`;
 * it is loaded once per worker thread (WORKER_CONCURRENCY threads at most) and kept between jobs.
 */
export function startBullmqWorker(config: BullmqWorkerConfig, processorFile: string, logger?: JobsLogger): JobWorker {
  if (!config.REDIS_URL) throw new Error('startBullmqWorker needs REDIS_URL');
  const connection = createRedis(config.REDIS_URL, 'worker', logger);
  const worker = new SaliencyWorker(
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
      workerThreadsOptions: { workerData: { processorFile, redisUrl: config.REDIS_URL, keyPrefix: config.KEY_PREFIX } satisfies SandboxData },
    },
    connection,
    config.KEY_PREFIX,
    logger,
  );
  worker.on('error', (err) => logger?.error({ err }, 'job worker error'));
  worker.on('failed', (job, err) => logger?.warn({ jobId: job?.id, model: job?.data.model, attempt: job?.attemptsMade, err }, 'job attempt failed'));
  worker.run().catch((err: unknown) => logger?.error({ err }, 'job worker stopped'));
  let closing: Promise<void> | undefined;
  return {
    worker,
    waitUntilReady: async () => {
      await worker.waitUntilReady();
    },
    close: () =>
      (closing ??= (async () => {
        await worker.close();
        await closeRedis(connection);
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
