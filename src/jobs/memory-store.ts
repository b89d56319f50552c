// BlobStore in process memory (embedded mode), in shared memory (shared-bytes.ts): per-key TTL, expired lazily on read and by a
// periodic sweep, and a total-bytes cap. What the cap may push out is only what can be made
// again or is no longer needed by a job: cached renderings, and the inputs of finished jobs once
// the queue releases them. The inputs of accepted jobs and their results are never evicted: when
// they do not fit, put() rejects with StoreFullError, which the gateway answers with 503 +
// Retry-After before accepting the job. New inputs may fill the store only up to
// (1 − RESULT_RESERVE) of the cap, so that the jobs already accepted can still write their results.
import { keys } from './contract.js';
import { type BlobStore } from './interfaces.js';
import { isWholeShared, shareableCopy } from './shared-bytes.js';

export interface MemoryStoreOptions {
  /** Most bytes held at once (default 512 MiB). */
  maxBytes?: number;
  /** How often expired entries are swept (default 30 s). */
  sweepIntervalMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/** Share of the cap kept free of new inputs for the results of accepted jobs. */
export const RESULT_RESERVE = 0.125;
/** Markers (tombstones, cancel flags) are a few bytes: they never count against the cap. */
const MARKER_MAX_BYTES = 256;

interface Entry {
  value: Buffer;
  expiresAt: number;
  /** May be dropped before its TTL when room is needed. */
  evictable: boolean;
}

/** A blob larger than the whole store. */
export class BlobTooLargeError extends Error {
  override name = 'BlobTooLargeError';
}

/** The store is full of blobs that must not be evicted; retry once jobs finish or expire. */
export class StoreFullError extends Error {
  override name = 'StoreFullError';
}

const isInput = (key: string) => key.startsWith(keys.input('')) || key.startsWith(keys.baseline(''));
const RENDER_PREFIX = keys.rendering('', '').replace(/:+$/, ':');
const isCache = (key: string) => key.startsWith(RENDER_PREFIX);
const isMarker = (key: string, value: Uint8Array) =>
  value.byteLength <= MARKER_MAX_BYTES && (key.startsWith(keys.deleted('')) || key.startsWith(keys.cancel('')));

export class MemoryBlobStore implements BlobStore {
  readonly maxBytes: number;
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly sweeper: NodeJS.Timeout;
  private bytes = 0;

  constructor(options: MemoryStoreOptions = {}) {
    this.maxBytes = options.maxBytes ?? 512 * 1024 * 1024;
    this.now = options.now ?? Date.now;
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 30_000);
    this.sweeper.unref();
  }

  /** Bytes currently held. */
  get size(): number {
    return this.bytes;
  }

  put(key: string, value: Uint8Array, ttlSeconds: number): Promise<void> {
    if (value.byteLength > this.maxBytes) {
      return Promise.reject(new BlobTooLargeError(`blob of ${value.byteLength} bytes exceeds the store's ${this.maxBytes} bytes`));
    }
    this.drop(key);
    this.sweep();
    const cache = isCache(key);
    if (!isMarker(key, value)) {
      const limit = isInput(key) ? Math.floor(this.maxBytes * (1 - RESULT_RESERVE)) : this.maxBytes;
      if (!this.makeRoom(value.byteLength, limit)) {
        // A rendering that does not fit is simply not cached: it can be rendered again.
        if (cache) return Promise.resolve();
        return Promise.reject(
          new StoreFullError(`the in-memory store holds ${this.bytes} of ${this.maxBytes} bytes for accepted jobs; ${value.byteLength} more do not fit`),
        );
      }
    }
    // A copy, in shared memory: the caller may reuse its buffer. A whole SharedArrayBuffer is what a
    // job thread posted back (a result it no longer touches): it is kept as it is.
    const stored = isWholeShared(value) ? Buffer.from(value.buffer, 0, value.byteLength) : shareableCopy(value);
    this.entries.set(key, { value: stored, expiresAt: this.now() + ttlSeconds * 1000, evictable: cache });
    this.bytes += value.byteLength;
    return Promise.resolve();
  }

  putIfAbsent(key: string, value: Uint8Array, ttlSeconds: number): Promise<boolean> {
    // Check and store in one synchronous step: nothing else runs in between on this thread.
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt > this.now()) return Promise.resolve(false);
    return this.put(key, value, ttlSeconds).then(() => true);
  }

  get(key: string): Promise<Buffer | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return Promise.resolve(undefined);
    if (entry.expiresAt <= this.now()) {
      this.drop(key);
      return Promise.resolve(undefined);
    }
    return Promise.resolve(entry.value);
  }

  /** The job that needed these blobs has finished: they may be evicted (soonest-expiring first) when room is needed. */
  release(...keys: string[]): void {
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (entry) entry.evictable = true;
    }
  }

  delete(...keys: string[]): Promise<void> {
    for (const key of keys) this.drop(key);
    return Promise.resolve();
  }

  deletePrefix(prefix: string): Promise<void> {
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.drop(key);
    return Promise.resolve();
  }

  close(): Promise<void> {
    clearInterval(this.sweeper);
    this.entries.clear();
    this.bytes = 0;
    return Promise.resolve();
  }

  private drop(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.bytes -= entry.value.byteLength;
    this.entries.delete(key);
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.drop(key);
  }

  /** Evicts evictable entries, soonest-expiring first, until `incoming` fits under `limit`; false when it cannot. */
  private makeRoom(incoming: number, limit: number): boolean {
    if (this.bytes + incoming <= limit) return true;
    const evictable = [...this.entries].filter(([, e]) => e.evictable);
    let freeable = 0;
    for (const [, e] of evictable) freeable += e.value.byteLength;
    if (this.bytes - freeable + incoming > limit) return false;
    evictable.sort((a, b) => a[1].expiresAt - b[1].expiresAt);
    for (const [key] of evictable) {
      if (this.bytes + incoming <= limit) break;
      this.drop(key);
    }
    return true;
  }
}
