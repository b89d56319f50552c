// JobQueue on BullMQ (distributed mode), the producer side used by the gateway. Every call is
// bounded: while Redis is away, submit/status/cancel reject within about a second with
// QueueUnavailableError (the gateway answers 503) instead of hanging.
//
// Job ids are the gateway's UUIDs (isJobId): anything else is unknown here without asking Redis,
// because BullMQ keeps its own keys beside the jobs' (`<prefix>:<queue>:id`, `…:events`,
// `…:stalled-check`) and getJob('events') would read one of them.
//
// A cancel marker lives until its TTL (RESULT_TTL_SECONDS), never shorter: the worker polls it
// while the job runs and its sandbox refuses to store a result once it is set, and a running job
// cannot be removed from BullMQ (it is locked) until its worker lets go of it.
import { type Job, Queue, QueueEvents } from 'bullmq';
import { type Redis } from 'ioredis';
import { isJobId, type JobEvent, type JobPayload, type JobResult, type JobState, type JobStatus, keys, type Progress } from './contract.js';
import { BullmqWebhooks } from './bullmq-webhooks.js';
import { type JobQueue, QueueFullError, QueueUnavailableError, type SubmitOptions, type WebhookPolicy, type WebhookSender } from './interfaces.js';
import { cancelledError, decodeJobError, JOB_CANCELLED } from './job-errors.js';
import { closeRedis, createRedis, type JobsLogger, producerCall, withTimeout } from './redis.js';

export interface BullmqQueueConfig {
  REDIS_URL?: string;
  QUEUE_NAME: string;
  KEY_PREFIX: string;
  JOB_ATTEMPTS: number;
  RESULT_TTL_SECONDS: number;
  MAX_QUEUE_DEPTH: number;
}

export const JOB_NAME = 'explain';

/** The marker a cancelled job leaves; running jobs' workers poll for it. */
export const cancelKey = (keyPrefix: string, id: string) => `${keyPrefix}:${keys.cancel(id)}`;

/** The marker's value: enough to answer status() for a queued job that was removed on cancel. */
interface CancelMarker {
  payload: JobPayload;
  cancelledAt: number;
}

type Listener = (event: JobEvent) => void;

const QUEUED_STATES = new Set(['waiting', 'wait', 'delayed', 'prioritized', 'waiting-children', 'paused']);

export class BullmqJobQueue implements JobQueue {
  private readonly client: Redis;
  private readonly queue: Queue<JobPayload, JobResult>;
  /** Created once Redis first answers: closing a QueueEvents that never connected would hang. */
  private events?: QueueEvents;
  private readonly eventsTemplate: Redis;
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly webhooks: BullmqWebhooks;
  private closing?: Promise<void>;

  constructor(
    private readonly config: BullmqQueueConfig,
    private readonly logger?: JobsLogger,
  ) {
    if (!config.REDIS_URL) throw new Error('BullmqJobQueue needs REDIS_URL');
    this.client = createRedis(config.REDIS_URL, 'producer', logger);
    this.queue = new Queue(config.QUEUE_NAME, { connection: this.client, prefix: config.KEY_PREFIX });
    this.queue.on('error', (err) => logger?.warn({ err }, 'job queue error'));
    this.webhooks = new BullmqWebhooks(config, this.client, logger);
    // QueueEvents blocks on XREAD, so it gets its own connection (a duplicate of this lazy template).
    this.eventsTemplate = createRedis(config.REDIS_URL, 'worker', logger, { lazy: true });
    if (this.client.status === 'ready') this.startEvents();
    else this.client.once('ready', () => this.startEvents());
  }

  async submit(payload: JobPayload, options: SubmitOptions = {}): Promise<void> {
    this.assertOpen();
    await producerCall(this.client, 'submit', async () => {
      const waiting = await this.queue.count();
      if (waiting >= this.config.MAX_QUEUE_DEPTH) throw new QueueFullError(`the queue holds ${waiting} waiting jobs`);
      await this.events?.waitUntilReady();
      const opts = {
        jobId: payload.id,
        attempts: this.config.JOB_ATTEMPTS,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: { age: this.config.RESULT_TTL_SECONDS },
        removeOnFail: { age: this.config.RESULT_TTL_SECONDS },
      };
      if (options.webhook) await this.webhooks.add(this.config.QUEUE_NAME, JOB_NAME, payload, opts, options.webhook);
      else await this.queue.add(JOB_NAME, payload, opts);
    });
  }

  async status(id: string): Promise<JobStatus | undefined> {
    this.assertOpen();
    if (!isJobId(id)) return undefined;
    return producerCall(this.client, 'status', async () => {
      // The state before the job's data: BullMQ writes a job's return value and moves it to
      // completed in one script, so a job that completes in between is read with its result.
      // (Data first, then state, could read "completed" beside a return value not yet written.)
      const [state, marker] = await Promise.all([this.queue.getJobState(id), this.marker(id)]);
      const job = await this.queue.getJob(id);
      if (!job) return marker && cancelledStatus(id, marker);
      return toStatus(id, job, state, marker);
    });
  }

  async cancel(id: string): Promise<boolean> {
    this.assertOpen();
    if (!isJobId(id)) return false;
    const cancelled = await producerCall(this.client, 'cancel', async () => {
      const job = await this.queue.getJob(id);
      if (!job) return false;
      const state = await job.getState();
      if (state === 'completed' || state === 'failed' || state === 'unknown') return false;
      const marker: CancelMarker = { payload: job.data, cancelledAt: Date.now() };
      // The marker first: if the job becomes active meanwhile, its worker sees the marker.
      await this.client.set(cancelKey(this.config.KEY_PREFIX, id), JSON.stringify(marker), 'EX', this.config.RESULT_TTL_SECONDS);
      if (state !== 'active') {
        try {
          await job.remove();
        } catch {
          // Taken by a worker since (locked): it stops at its next cancel check.
        }
      }
      return true;
    });
    if (cancelled) this.deliver(id, { type: 'cancelled', id });
    return cancelled;
  }

  async remove(id: string): Promise<void> {
    const status = await this.status(id);
    if (!status) return;
    if (status.state === 'queued' || status.state === 'running') {
      // Still going: withdraw its webhook and cancel it; BullMQ drops the record RESULT_TTL_SECONDS after it stops.
      await producerCall(this.client, 'remove', () => this.webhooks.withdraw(id));
      await this.cancel(id);
      return;
    }
    // Finished (or cancelled): forget the record. A cancelled job whose worker has not let go yet
    // stays locked (remove answers 0) and its marker stays until its TTL: the worker still needs it.
    await producerCall(this.client, 'remove', () => this.queue.remove(id));
  }

  subscribe(id: string, listener: Listener): () => void {
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(id) === set) this.listeners.delete(id);
    };
  }

  async depth(): Promise<number> {
    this.assertOpen();
    return producerCall(this.client, 'depth', () => this.queue.count());
  }

  async workers(): Promise<number> {
    this.assertOpen();
    return producerCall(this.client, 'workers', async () => (await this.queue.getWorkers()).length);
  }

  deliverWebhooks(send: WebhookSender, policy: WebhookPolicy): void {
    this.webhooks.start(send, policy);
  }

  async notify(jobId: string, url: string): Promise<void> {
    this.assertOpen();
    await producerCall(this.client, 'notify', () => this.webhooks.addEnded(jobId, url));
  }

  async ready(): Promise<boolean> {
    if (this.closing || this.client.status !== 'ready') return false;
    try {
      return (await withTimeout(this.client.ping(), 1000, () => new Error('ping timed out'))) === 'PONG';
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.listeners.clear();
      await this.webhooks.close();
      await this.events?.close();
      await this.queue.close();
      await closeRedis(this.client);
      this.eventsTemplate.disconnect();
    })();
    return this.closing;
  }

  private assertOpen(): void {
    if (this.closing) throw new QueueUnavailableError('the job queue is closed');
  }

  private async marker(id: string): Promise<CancelMarker | undefined> {
    const raw = await this.client.get(cancelKey(this.config.KEY_PREFIX, id));
    return raw ? (JSON.parse(raw) as CancelMarker) : undefined;
  }

  private startEvents(): void {
    if (this.closing || this.events) return;
    const events = new QueueEvents(this.config.QUEUE_NAME, { connection: this.eventsTemplate, prefix: this.config.KEY_PREFIX });
    this.events = events;
    events.on('error', (err) => this.logger?.warn({ err }, 'job events error'));
    events.on('progress', ({ jobId, data }) => {
      if (typeof data === 'object') this.deliver(jobId, { type: 'progress', id: jobId, progress: data as Progress });
    });
    events.on('completed', ({ jobId, returnvalue }) => {
      this.deliver(jobId, { type: 'completed', id: jobId, result: returnvalue as unknown as JobResult });
    });
    events.on('failed', ({ jobId, failedReason }) => {
      const error = decodeJobError(failedReason);
      this.deliver(jobId, error.code === JOB_CANCELLED ? { type: 'cancelled', id: jobId } : { type: 'failed', id: jobId, error });
    });
    // A queued job cancelled by another gateway process is removed: its marker tells why.
    events.on('removed', ({ jobId }) => {
      if (!this.listeners.has(jobId)) return;
      this.marker(jobId)
        .then((marker) => marker && this.deliver(jobId, { type: 'cancelled', id: jobId }))
        .catch((err: unknown) => this.logger?.warn({ err, jobId }, 'cancel marker lookup failed'));
    });
  }

  /** Calls the job's listeners; a final event is the last one they get. */
  private deliver(id: string, event: JobEvent): void {
    const set = this.listeners.get(id);
    if (!set) return;
    if (event.type !== 'progress') this.listeners.delete(id);
    for (const listener of [...set]) {
      try {
        listener(event);
      } catch (err) {
        this.logger?.error({ err, jobId: id }, 'job event listener threw');
      }
    }
  }
}

function toStatus(id: string, job: Job<JobPayload, JobResult>, bullState: string, marker: CancelMarker | undefined): JobStatus | undefined {
  const payload = job.data;
  const error = bullState === 'failed' ? decodeJobError(job.failedReason) : undefined;
  let state: JobState;
  if (bullState === 'completed') state = 'completed';
  else if (marker || error?.code === JOB_CANCELLED) state = 'cancelled';
  else if (bullState === 'failed') state = 'failed';
  else if (bullState === 'active') state = 'running';
  else if (QUEUED_STATES.has(bullState)) state = 'queued';
  else return undefined;
  const progress = typeof job.progress === 'object' ? (job.progress as Progress) : undefined;
  const finishedAt = job.finishedOn ?? (state === 'cancelled' ? marker?.cancelledAt : undefined);
  return {
    id,
    state,
    payload,
    attempts: job.attemptsStarted ?? job.attemptsMade,
    submittedAt: payload.submittedAt,
    ...(progress && { progress }),
    ...(state === 'completed' && { result: job.returnvalue }),
    ...(state === 'failed' && error && { error }),
    ...(state === 'cancelled' && { error: cancelledError() }),
    ...(job.processedOn !== undefined && { startedAt: job.processedOn }),
    ...(finishedAt !== undefined && { finishedAt }),
  };
}

function cancelledStatus(id: string, marker: CancelMarker): JobStatus {
  return {
    id,
    state: 'cancelled',
    payload: marker.payload,
    attempts: 0,
    submittedAt: marker.payload.submittedAt,
    error: cancelledError(),
    finishedAt: marker.cancelledAt,
  };
}
