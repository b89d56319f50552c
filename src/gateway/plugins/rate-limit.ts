// Per-client rate limit with @fastify/rate-limit: a fixed window of a minute, RATE_LIMIT_PER_MINUTE
// requests per client. A client is the authenticated key when one was verified, else the socket
// address (or the forwarded one, only from TRUST_PROXY addresses; IPv6 by /64): never a header
// the client could vary freely. The counters live in Redis when the gateway runs distributed,
// so every replica counts against the same budget; otherwise in an LRU of RATE_LIMIT_CLIENTS
// entries (bounded memory: the least recently seen clients are forgotten first).
import fastifyRateLimit, { normalizeIP } from '@fastify/rate-limit';
import { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import { type Config } from '../../config/config.js';

export type Limiter = ReturnType<FastifyInstance['createRateLimit']>;
export type LimitResult = Awaited<ReturnType<Limiter>>;

/** The bucket a request counts against (call after authentication has set request.owner). */
export function clientKey(request: FastifyRequest): string {
  return request.owner ? `key:${request.owner}` : `ip:${normalizeIP(request.ip || 'unknown', 64)}`;
}

/** Registers the plugin on the /v1 scope (no hook of its own) and returns its limiter; undefined when disabled. */
export async function registerRateLimit(scope: FastifyInstance, config: Config, logger: FastifyBaseLogger): Promise<Limiter | undefined> {
  if (config.RATE_LIMIT_PER_MINUTE <= 0) return undefined;
  let redis: Redis | undefined;
  if (config.REDIS_URL) {
    // Its own connection, bounded: a Redis outage fails a count within about a second instead
    // of queueing requests behind it (access.ts decides what then happens).
    redis = new Redis(config.REDIS_URL, {
      maxRetriesPerRequest: 1,
      commandTimeout: 1000,
      connectTimeout: 2000,
      retryStrategy: (times: number) => Math.min(times * 250, 2000),
    });
    let reported = false;
    redis.on('error', (err: Error) => {
      if (!reported) logger.warn({ err }, 'rate-limit redis connection error');
      reported = true;
    });
    redis.on('ready', () => (reported = false));
    scope.addHook('onClose', async () => {
      await redis?.quit().catch(() => redis?.disconnect());
    });
  }
  await scope.register(fastifyRateLimit, {
    global: false, // counted by the scope's access hook, after authentication
    max: config.RATE_LIMIT_PER_MINUTE,
    timeWindow: 60_000,
    cache: config.RATE_LIMIT_CLIENTS,
    keyGenerator: clientKey,
    skipOnError: false,
    ...(redis ? { redis, nameSpace: `${config.KEY_PREFIX}:ratelimit:` } : {}),
  });
  return scope.createRateLimit();
}
