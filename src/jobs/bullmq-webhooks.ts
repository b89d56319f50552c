// Webhook deliveries in distributed mode: a BullMQ queue of their own (`<QUEUE_NAME>-webhooks`),
// one delivery job per explanation job, so that pending deliveries and their retries live in
// Redis and outlast the gateway that accepted the job.
//
// The delivery is created with its job, in one transaction, as the job's parent (a BullMQ flow):
// it waits ("waiting-children") until the job ends, and BullMQ moves it to the queue in the same
// script that finishes the job (completed, or failed for good: `ignoreDependencyOnFailure`) or
// removes it (a cancelled queued job). So each job gets exactly one delivery, whichever process
// finishes it and whether or not any gateway runs at that moment; the gateways that called
// deliverWebhooks consume the queue, and BullMQ's job lock gives each delivery to one of them.
// Retries are BullMQ attempts (WEBHOOK_MAX_ATTEMPTS) with a custom backoff (the policy's delays,
// jittered). A gateway that dies mid-attempt leaves a stalled job that another one retries: at
// least once, with the same webhook-id for receivers to drop duplicates.
import { randomUUID } from 'node:crypto';
import { FlowProducer, type JobsOptions, Queue, Worker } from 'bullmq';
import { type Redis } from 'ioredis';
import { type JobPayload } from './contract.js';
import { type WebhookPolicy, type WebhookSender } from './interfaces.js';
import { closeRedis, createRedis, type JobsLogger } from './redis.js';

const DELIVERY_NAME = 'deliver';
/** Deliveries in flight per gateway (each is one HTTP request of at most a few seconds). */
const CONCURRENCY = 8;

export interface BullmqWebhooksConfig {
  REDIS_URL?: string;
  QUEUE_NAME: string;
  KEY_PREFIX: string;
  RESULT_TTL_SECONDS: number;
}

interface DeliveryData {
  jobId: string;
  url: string;
}

export const webhookQueueName = (queueName: string) => `${queueName}-webhooks`;

export class BullmqWebhooks {
  private readonly name: string;
  private readonly flow: FlowProducer;
  private readonly queue: Queue<DeliveryData>;
  private consumer?: { worker: Worker<DeliveryData>; connection: Redis };
  private send?: WebhookSender;
  private policy?: WebhookPolicy;

  constructor(
    private readonly config: BullmqWebhooksConfig,
    /** The producer connection of the job queue (shared: never closed here). */
    client: Redis,
    private readonly logger?: JobsLogger,
  ) {
    this.name = webhookQueueName(config.QUEUE_NAME);
    this.flow = new FlowProducer({ connection: client, prefix: config.KEY_PREFIX });
    this.flow.on('error', (err) => logger?.warn({ err }, 'webhook flow error'));
    this.queue = new Queue(this.name, { connection: client, prefix: config.KEY_PREFIX });
    this.queue.on('error', (err) => logger?.warn({ err }, 'webhook queue error'));
  }

  /** Adds the job (`jobName`, `jobOpts`, in `jobQueue`) under its delivery, in one transaction. */
  async add(jobQueue: string, jobName: string, payload: JobPayload, jobOpts: JobsOptions, url: string): Promise<void> {
    if (!this.policy) throw new Error('a webhook was given before deliverWebhooks()');
    await this.flow.add({
      name: DELIVERY_NAME,
      queueName: this.name,
      data: { jobId: payload.id, url } satisfies DeliveryData,
      opts: { ...this.deliveryOptions(), jobId: payload.id },
      children: [{ name: jobName, queueName: jobQueue, data: payload, opts: { ...jobOpts, ignoreDependencyOnFailure: true } }],
    });
  }

  /** A delivery for a job that has already ended: no parent to wait for, queued at once. */
  async addEnded(jobId: string, url: string): Promise<void> {
    if (!this.policy) throw new Error('a webhook was given before deliverWebhooks()');
    await this.queue.add(DELIVERY_NAME, { jobId, url }, { ...this.deliveryOptions(), jobId: `${jobId}-again-${randomUUID()}` });
  }

  /** Retries and retention of every delivery. */
  private deliveryOptions(): JobsOptions {
    const keep = { age: this.config.RESULT_TTL_SECONDS };
    return { attempts: this.policy?.attempts ?? 1, backoff: { type: 'webhook' }, removeOnComplete: keep, removeOnFail: keep };
  }

  /** Drops the delivery of a job that is being rolled back (nobody was told of it). */
  async withdraw(jobId: string): Promise<void> {
    await this.queue.remove(jobId, { removeChildren: false });
  }

  start(send: WebhookSender, policy: WebhookPolicy): void {
    this.send = send;
    this.policy = policy;
    if (this.consumer || !this.config.REDIS_URL) return;
    // The consumer blocks on Redis: a connection of its own that waits out outages.
    const connection = createRedis(this.config.REDIS_URL, 'worker', this.logger);
    const worker = new Worker<DeliveryData>(
      this.name,
      async (job) => this.send?.({ jobId: job.data.jobId, url: job.data.url, attempt: job.attemptsMade + 1 }),
      {
        connection,
        prefix: this.config.KEY_PREFIX,
        concurrency: CONCURRENCY,
        settings: { backoffStrategy: (attemptsMade: number) => this.policy?.delayMs(attemptsMade) ?? 0 },
      },
    );
    worker.on('error', (err) => this.logger?.warn({ err }, 'webhook worker error'));
    worker.on('failed', (job, err) => {
      const attempt = job?.attemptsMade ?? 0;
      if (attempt >= (job?.opts.attempts ?? 1)) this.logger?.warn({ err, jobId: job?.data.jobId, attempt }, 'webhook undeliverable, giving up');
      else this.logger?.info({ err, jobId: job?.data.jobId, attempt }, 'webhook failed, retrying');
    });
    this.consumer = { worker, connection };
  }

  async close(): Promise<void> {
    // An attempt in progress finishes; pending ones stay in Redis for the next gateway.
    if (this.consumer) {
      await this.consumer.worker.close();
      await closeRedis(this.consumer.connection);
    }
    await this.flow.close();
    await this.queue.close();
  }
}
