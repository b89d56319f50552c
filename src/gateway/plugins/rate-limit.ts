// Per-client rate limit (API key, else address): a token bucket refilled continuously, so bursts
// up to a minute's allowance pass and a steady excess gets 429 with Retry-After.
import { type FastifyInstance } from 'fastify';
import { apiError } from '../errors.js';
import { presentedKey } from './auth.js';

export function registerRateLimit(app: FastifyInstance, perMinute: number): void {
  if (perMinute <= 0) return;
  const buckets = new Map<string, { tokens: number; at: number }>();
  const refill = perMinute / 60_000;
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [k, b] of buckets) if (b.tokens + (now - b.at) * refill >= perMinute) buckets.delete(k);
  }, 60_000);
  sweep.unref();
  app.addHook('onClose', async () => clearInterval(sweep));
  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/v1/')) return;
    const client = presentedKey(request) ?? request.ip;
    const now = Date.now();
    const bucket = buckets.get(client) ?? { tokens: perMinute, at: now };
    bucket.tokens = Math.min(perMinute, bucket.tokens + (now - bucket.at) * refill);
    bucket.at = now;
    buckets.set(client, bucket);
    if (bucket.tokens < 1) {
      const wait = Math.ceil((1 - bucket.tokens) / refill / 1000);
      throw apiError('SALIENCY_RATE_LIMITED', [wait], { 'retry-after': String(wait) });
    }
    bucket.tokens -= 1;
  });
}
