// BlobStore on Redis (distributed mode): inputs, attributions and renderings as binary strings
// with a TTL, under `${KEY_PREFIX}:blob:`. The gateway's store is a producer: during an outage
// every call rejects within about a second with QueueUnavailableError instead of queueing. A
// worker thread's store (role 'worker') waits for Redis instead, as the rest of the worker does.
import { type Redis } from 'ioredis';
import { type BlobStore } from './interfaces.js';
import { closeRedis, createRedis, globEscape, type JobsLogger, producerCall, type RedisRole, unlinkMatching } from './redis.js';

/** KEYS[1]: the blob; KEYS[2..]: guards; ARGV: value, TTL in seconds. */
const PUT_UNLESS = `
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1`;

export class RedisBlobStore implements BlobStore {
  private readonly client: Redis;
  private readonly prefix: string;
  private readonly role: RedisRole;

  constructor(url: string, keyPrefix: string, options: { logger?: JobsLogger; role?: RedisRole } = {}) {
    this.role = options.role ?? 'producer';
    this.client = createRedis(url, this.role, options.logger);
    this.prefix = `${keyPrefix}:blob:`;
  }

  private call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return this.role === 'producer' ? producerCall(this.client, what, fn) : fn();
  }

  async put(key: string, value: Uint8Array, ttlSeconds: number): Promise<void> {
    const buffer = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    await this.call('SET', () => this.client.set(this.prefix + key, buffer, 'EX', Math.max(1, Math.ceil(ttlSeconds))));
  }

  /**
   * Stores the blob unless one of the `guards` exists (full Redis keys), in one step: a worker's
   * result write and the gateway's cancel marker cannot interleave. Answers whether it stored.
   */
  async putUnless(key: string, value: Uint8Array, ttlSeconds: number, guards: string[]): Promise<boolean> {
    const buffer = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    const stored = await this.call('EVAL', () =>
      this.client.eval(PUT_UNLESS, 1 + guards.length, this.prefix + key, ...guards, buffer, String(Math.max(1, Math.ceil(ttlSeconds)))),
    );
    return stored === 1;
  }

  /** The Redis key of a blob (for guards). */
  redisKey(key: string): string {
    return this.prefix + key;
  }

  async putIfAbsent(key: string, value: Uint8Array, ttlSeconds: number): Promise<boolean> {
    const buffer = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    const stored = await this.call('SET NX', () => this.client.set(this.prefix + key, buffer, 'EX', Math.max(1, Math.ceil(ttlSeconds)), 'NX'));
    return stored === 'OK';
  }

  async get(key: string): Promise<Buffer | undefined> {
    const value = await this.call('GET', () => this.client.getBuffer(this.prefix + key));
    return value ?? undefined;
  }

  async delete(...keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.call('UNLINK', () => this.client.unlink(...keys.map((k) => this.prefix + k)));
  }

  async deletePrefix(prefix: string): Promise<void> {
    await this.call('SCAN', () => unlinkMatching(this.client, `${globEscape(this.prefix + prefix)}*`));
  }

  async close(): Promise<void> {
    await closeRedis(this.client);
  }
}
