// Webhook deliveries of the embedded queue: attempts and retry timers in this process, so nothing
// pending survives it (nor do the jobs themselves). The BullMQ queue keeps them in Redis instead
// (bullmq-webhooks.ts); both call the same sender with the same policy.
import { type WebhookPolicy, type WebhookSender } from './interfaces.js';
import { type JobsLogger } from './redis.js';

export class MemoryOutbox {
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  private send?: WebhookSender;
  private policy: WebhookPolicy = { attempts: 1, delayMs: () => 0 };

  constructor(private readonly logger?: JobsLogger) {}

  /** Whether a sender was given: jobs with a webhook are accepted only then. */
  get started(): boolean {
    return this.send !== undefined;
  }

  start(send: WebhookSender, policy: WebhookPolicy): void {
    this.send = send;
    this.policy = policy;
  }

  add(jobId: string, url: string, attempt = 1): void {
    if (this.closed || !this.send) return;
    this.send({ jobId, url, attempt }).then(
      () => undefined,
      (err: unknown) => {
        if (attempt >= this.policy.attempts) return this.logger?.warn({ err, jobId, attempt }, 'webhook undeliverable, giving up');
        const delay = this.policy.delayMs(attempt);
        this.logger?.info({ err, jobId, attempt, delay }, 'webhook failed, retrying');
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.add(jobId, url, attempt + 1);
        }, delay);
        this.timers.add(timer);
      },
    );
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
