// Webhooks on completion: a submission with a `webhook` URL gets one POST when each of its jobs
// ends (completed, failed or cancelled), signed per Standard Webhooks (standardwebhooks.com):
//   webhook-id: msg_<job id>   webhook-timestamp: <unix seconds>
//   webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>
// where key is the base64 part of WEBHOOK_SECRET ("whsec_…"). The body is
// {"type": "explanation.completed", "timestamp": ISO 8601, "data": <the explanation>}.
// - Only hosts on WEBHOOK_ALLOWED_HOSTS are accepted (checked at submission, 400 otherwise), and
//   redirects are not followed, so a webhook cannot be aimed at internal addresses.
// - A job without a `webhook` field gets its API key's webhook (API_KEY_WEBHOOKS), if it has one.
// - A delivery that fails (network error, timeout, any non-2xx) is retried up to
//   WEBHOOK_MAX_ATTEMPTS times with exponential backoff and jitter; the webhook-id stays the same,
//   so receivers can drop duplicates.
// - The job queue keeps the deliveries (JobQueue.deliverWebhooks): in distributed mode a BullMQ
//   queue in Redis, delivered by any gateway, so pending ones and their retries survive restarts;
//   in embedded mode this process's memory. This file only makes one attempt at a time.
import { createHash, createHmac } from 'node:crypto';
import { type FastifyBaseLogger } from 'fastify';
import { apiKeys, type Config, ConfigError } from '../config/config.js';
import { type JobQueue, type WebhookDelivery } from '../jobs/interfaces.js';
import { ApiError, apiError } from './errors.js';
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

/**
 * API_KEY_WEBHOOKS: `<sha256 of the key, hex>=<url>` entries, comma-separated, so that the secret
 * itself is written only once (API_KEYS). Each digest must be one of API_KEYS' and each URL pass
 * the same checks as the `webhook` field; the map is keyed by the request's owner (auth.ts: the
 * first 32 hex digits of the digest). Errors name an entry by its position, never the digest.
 */
function keyWebhooks(config: Config, check: (url: string) => string | undefined): Map<string, string> {
  const known = new Set(apiKeys(config).map((k) => createHash('sha256').update(k, 'utf8').digest('hex')));
  const map = new Map<string, string>();
  const entries = config.API_KEY_WEBHOOKS.split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  entries.forEach((entry, i) => {
    const fail = (why: string) => new ConfigError(`invalid configuration: API_KEY_WEBHOOKS entry ${i + 1}: ${why}`);
    const at = entry.indexOf('=');
    const digest = entry.slice(0, Math.max(at, 0)).trim().toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(digest)) throw fail("expected '<sha256 of the API key, 64 hex digits>=<url>'");
    if (!known.has(digest)) throw fail('the digest is not that of a key in API_KEYS');
    let url: string | undefined;
    try {
      url = check(entry.slice(at + 1).trim());
    } catch (err) {
      throw fail(err instanceof ApiError ? err.message : String(err));
    }
    if (!url) throw fail('no URL');
    map.set(digest.slice(0, 32), url);
  });
  return map;
}

export class Webhooks {
  private readonly key: Buffer | undefined;
  private readonly allowed: Set<string>;
  private readonly byOwner: Map<string, string>;

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
    this.byOwner = keyWebhooks(config, (url) => this.check(url));
  }

  /** Whether this server calls webhooks at all (a secret and an allow-list). */
  get enabled(): boolean {
    return this.key !== undefined && this.allowed.size > 0;
  }

  /** Hands the queue this server's sender, when webhooks are enabled. */
  start(): void {
    if (!this.enabled) return;
    this.queue.deliverWebhooks(this.deliver, {
      attempts: this.config.WEBHOOK_MAX_ATTEMPTS,
      delayMs: (attempt) => retryDelayMs(attempt, this.config.WEBHOOK_RETRY_BASE_MS),
    });
  }

  /** The submission's `webhook` field as a URL this server may call; undefined when absent. */
  check(value: unknown): string | undefined {
    if (value === undefined || value === '') return undefined;
    if (!this.enabled) throw apiError('SALIENCY_VALIDATION', ['webhooks are not enabled on this server (WEBHOOK_SECRET and WEBHOOK_ALLOWED_HOSTS)']);
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

  /** The webhook of a submission: its own field, else its API key's. */
  forSubmission(value: unknown, owner: string | undefined): string | undefined {
    return this.check(value) ?? (owner === undefined ? undefined : this.byOwner.get(owner));
  }

  /** One attempt (the queue retries a rejection): the job's final state, signed, POSTed to the URL. */
  private readonly deliver = async ({ jobId, url, attempt }: WebhookDelivery): Promise<void> => {
    const status = await this.queue.status(jobId);
    // Deleted and expired since: there is nothing left to report.
    if (!status) return this.log.info({ jobId }, 'webhook dropped: the job no longer exists');
    if (!FINAL.has(status.state)) throw new Error(`job ${jobId} is still ${status.state}`);
    if (!this.key) throw new Error('webhooks are not enabled on this server (WEBHOOK_SECRET)');
    const id = `msg_${jobId}`;
    const timestamp = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({ type: `explanation.${status.state}`, timestamp: new Date(timestamp * 1000).toISOString(), data: toExplanation(status) });
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'saliency-server',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signWebhook(this.key, id, timestamp, body),
    };
    const response = await this.fetchImpl(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS) });
    await response.arrayBuffer().catch(() => undefined);
    if (response.status < 200 || response.status >= 300) throw new Error(`answered ${response.status}`);
    this.log.info({ jobId, attempt }, 'webhook delivered');
  };
}
