// BlobStore in process memory (embedded mode): per-key TTL, expired lazily on read and by a
// periodic sweep, and a total-bytes cap that evicts the soonest-expiring entries first (they
// would be gone soonest anyway).
import { type BlobStore } from './interfaces.js';

export interface MemoryStoreOptions {
  /** Most bytes held at once (default 512 MiB). */
  maxBytes?: number;
  /** How often expired entries are swept (default 30 s). */
  sweepIntervalMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

interface Entry {
  value: Buffer;
  expiresAt: number;
}

export class BlobTooLargeError extends Error {
  override name = 'BlobTooLargeError';
}

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
    this.evictFor(value.byteLength);
    // A copy: the caller may reuse its buffer.
    this.entries.set(key, { value: Buffer.from(value), expiresAt: this.now() + ttlSeconds * 1000 });
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

  private evictFor(incoming: number): void {
    if (this.bytes + incoming <= this.maxBytes) return;
    const byExpiry = [...this.entries].sort((a, b) => a[1].expiresAt - b[1].expiresAt);
    for (const [key] of byExpiry) {
      if (this.bytes + incoming <= this.maxBytes) break;
      this.drop(key);
    }
  }
}
