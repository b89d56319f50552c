// Redis connections for the jobs layer. Two kinds, as BullMQ's production guide asks
// (docs/gitbook/guide/going-to-production.md): producers (gateway side: submit, status, blobs)
// fail fast while Redis is away, so an HTTP request gets a 503 instead of hanging; workers and
// blocking readers wait for Redis forever (`maxRetriesPerRequest: null`) and carry on after an
// outage.
import { Redis } from 'ioredis';
import { QueueUnavailableError } from './interfaces.js';

/** The few logger methods the jobs layer uses (a pino logger fits). */
export interface JobsLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export type RedisRole = 'producer' | 'worker';

/** How long a producer call waits for a (re)connecting Redis before giving up. */
export const READY_WAIT_MS = 1000;
/** Upper bound of one producer call once connected (a Lua script or a small pipeline). */
export const CALL_TIMEOUT_MS = 3000;

export function createRedis(url: string, role: RedisRole, logger?: JobsLogger, options: { lazy?: boolean } = {}): Redis {
  const common = {
    connectTimeout: 2000,
    lazyConnect: options.lazy === true,
    // Never give up reconnecting: a client whose retries ended is dead for good (BullMQ keeps
    // the rejected connection promise), and Redis outages are expected to end.
    retryStrategy: (times: number) => Math.min(times * 250, 2000),
  };
  const client =
    role === 'producer'
      ? new Redis(url, { ...common, maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: 2000 })
      : new Redis(url, { ...common, maxRetriesPerRequest: null });
  // ioredis prints unhandled 'error' events to stderr; connection errors are reported through
  // rejected calls (producers) or retried (workers), so log them once per outage at most.
  let reported = false;
  client.on('error', (err: Error) => {
    if (!reported) logger?.warn({ err, role }, 'redis connection error');
    reported = true;
  });
  client.on('ready', () => {
    reported = false;
  });
  return client;
}

/** Resolves when the client is connected, rejects with QueueUnavailableError after `ms`. */
export function whenReady(client: Redis, ms = READY_WAIT_MS): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  if (client.status === 'end') return Promise.reject(new QueueUnavailableError('redis connection is closed'));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(new QueueUnavailableError(`redis is not reachable (not connected after ${ms} ms)`));
    }, ms);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', onReady);
  });
}

/** Rejects with `onTimeout()` when `promise` has not settled after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Runs one producer call: waits briefly for the connection, bounds the call, and turns connection
 * failures into QueueUnavailableError (errors of the call itself pass through).
 */
export async function producerCall<T>(client: Redis, what: string, fn: () => Promise<T>): Promise<T> {
  await whenReady(client);
  try {
    return await withTimeout(fn(), CALL_TIMEOUT_MS, () => new QueueUnavailableError(`redis did not answer ${what} within ${CALL_TIMEOUT_MS} ms`));
  } catch (err) {
    if (err instanceof QueueUnavailableError || !isConnectionError(err)) throw err;
    throw new QueueUnavailableError(`redis is not reachable (${what}): ${(err as Error).message}`, { cause: err });
  }
}

function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  if (code && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code)) return true;
  return /Connection is closed|Stream isn't writeable|enableOfflineQueue|Command timed out|max retries per request|Reached the max retries/i.test(err.message);
}

/** Closes a client: QUIT when connected (flushes pending replies), disconnect otherwise. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    try {
      await withTimeout(client.quit(), 1000, () => new Error('quit timed out'));
      return;
    } catch {
      // fall through: drop the socket
    }
  }
  client.disconnect();
}

/** Escapes glob characters so that a key prefix can be used in SCAN MATCH. */
export function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** Deletes every key matching `pattern` (SCAN + UNLINK in batches; never KEYS, which blocks Redis). */
export async function unlinkMatching(client: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let removed = 0;
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    if (batch.length > 0) removed += await client.unlink(...batch);
  } while (cursor !== '0');
  return removed;
}
