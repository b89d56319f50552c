// Webhooks on completion: a submission with a `webhook` URL gets one POST when each of its jobs
// ends (completed, failed or cancelled), signed per Standard Webhooks (standardwebhooks.com):
//   webhook-id: msg_<job id>   webhook-timestamp: <unix seconds>
//   webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>
// where key is the base64 part of WEBHOOK_SECRET ("whsec_…"). The body is
// {"type": "explanation.completed", "timestamp": ISO 8601, "data": <the explanation>}.
// - Only hosts on WEBHOOK_ALLOWED_HOSTS are accepted (checked at submission, 400 otherwise), and
//   redirects are not followed, so a webhook cannot be aimed at internal addresses.
// - A delivery that fails (network error, timeout, any non-2xx) is retried up to
//   WEBHOOK_MAX_ATTEMPTS times with exponential backoff and jitter; the webhook-id stays the same,
//   so receivers can drop duplicates.
// - Deliveries run in the gateway that accepted the job; ones still pending when it stops are lost.
import { createHmac } from 'node:crypto';
import { type FastifyBaseLogger } from 'fastify';
import { type Config } from '../config/config.js';
import { type JobQueue } from '../jobs/interfaces.js';
import { apiError } from './errors.js';
import { toExplanation } from './explanation-view.js';

const FINAL = new Set(['completed', 'failed', 'cancelled']);
const TIMEOUT_MS = 10_000;
const MAX_DELAY_MS = 10 * 60_000;

/** The HMAC key of a Standard Webhooks secret ("whsec_" + base64). */
export function webhookKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
}

export function signWebhook(key: Buffer, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/** Delay before attempt `attempt + 1` (attempt ≥ 1): base·2^(attempt−1), capped, half of it jittered. */
export function retryDelayMs(attempt: number, baseMs: number, random: () => number = Math.random): number {
  const delay = Math.min(baseMs * 2 ** (attempt - 1), MAX_DELAY_MS);
  return Math.round(delay / 2 + random() * (delay / 2));
}

export class Webhooks {
  private readonly key: Buffer | undefined;
  private readonly allowed: Set<string>;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly config: Config,
    private readonly queue: JobQueue,
    private readonly log: FastifyBaseLogger,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {
    this.key = config.WEBHOOK_SECRET ? webhookKey(config.WEBHOOK_SECRET) : undefined;
    this.allowed = new Set(
      config.WEBHOOK_ALLOWED_HOSTS.split(',')
        .map((h) => h.trim().toLowerCase())
        .filter(Boolean),
    );
  }

  /** The submission's `webhook` field as a URL this server may call; undefined when absent. */
  check(value: unknown): string | undefined {
    if (value === undefined || value === '') return undefined;
    if (!this.key || this.allowed.size === 0)
      throw apiError('SALIENCY_VALIDATION', ['webhooks are not enabled on this server (WEBHOOK_SECRET and WEBHOOK_ALLOWED_HOSTS)']);
    let url: URL;
    try {
      url = new URL(String(value));
    } catch {
      throw apiError('SALIENCY_VALIDATION', ['webhook must be an absolute http(s) URL']);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw apiError('SALIENCY_VALIDATION', ['webhook must be an absolute http(s) URL']);
    if (url.username || url.password) throw apiError('SALIENCY_VALIDATION', ['webhook must not carry credentials in the URL']);
    if (!this.allowed.has(url.host.toLowerCase()) && !this.allowed.has(url.hostname.toLowerCase())) {
      throw apiError('SALIENCY_VALIDATION', [`webhook host '${url.host}' is not on this server's allow-list`]);
    }
    return url.href;
  }

  /** Delivers one event to `url` when job `id` ends. */
  watch(id: string, url: string): void {
    let done = false;
    const fire = () => {
      if (done) return;
      done = true;
      stop();
      void this.queue.status(id).then(
        (status) => {
          if (status && FINAL.has(status.state)) this.send(url, id, `explanation.${status.state}`, toExplanation(status), 1);
        },
        (err: unknown) => this.log.warn({ err, jobId: id }, 'webhook: job status unavailable'),
      );
    };
    const stop = this.queue.subscribe(id, (event) => event.type !== 'progress' && fire());
    // It may have ended already (a cached answer, a fast job).
    void this.queue.status(id).then(
      (s) => s && FINAL.has(s.state) && fire(),
      () => undefined,
    );
  }

  private send(url: string, jobId: string, type: string, data: unknown, attempt: number): void {
    if (this.closed || !this.key) return;
    const id = `msg_${jobId}`;
    const timestamp = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({ type, timestamp: new Date(timestamp * 1000).toISOString(), data });
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'saliency-server',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signWebhook(this.key, id, timestamp, body),
    };
    void this.fetchImpl(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS) })
      .then(async (response) => {
        await response.arrayBuffer().catch(() => undefined);
        if (response.status >= 200 && response.status < 300) return;
        throw new Error(`answered ${response.status}`);
      })
      .then(
        () => this.log.info({ jobId, attempt }, 'webhook delivered'),
        (err: unknown) => {
          if (attempt >= this.config.WEBHOOK_MAX_ATTEMPTS) return this.log.warn({ err, jobId, attempt }, 'webhook undeliverable, giving up');
          const delay = retryDelayMs(attempt, this.config.WEBHOOK_RETRY_BASE_MS);
          this.log.info({ err, jobId, attempt, delay }, 'webhook failed, retrying');
          const timer = setTimeout(() => {
            this.timers.delete(timer);
            this.send(url, jobId, type, data, attempt + 1);
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
