// Rendered PNGs, per gateway process, bounded in bytes (RENDER_CACHE_MB): least recently used
// first out, entries expire with the job's results. Kept apart from the job store so renderings
// never compete with accepted jobs' inputs for its space. Concurrent requests for the same
// rendering share one computation.
export interface CachedRendering {
  png: Buffer;
  scale: number;
  clipValue: number;
}

interface Entry extends CachedRendering {
  expiresAt: number;
}

export class RenderCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<CachedRendering>>();
  private bytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.bytes;
  }

  /** The cached rendering, else `compute()`'s (shared with concurrent callers of the same key). */
  async get(key: string, compute: () => Promise<CachedRendering>): Promise<CachedRendering> {
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt > this.now()) {
      // Refresh its place in the LRU order (a Map iterates in insertion order).
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    if (hit) this.drop(key);
    const running = this.inflight.get(key);
    if (running) return running;
    const promise = compute().finally(() => this.inflight.delete(key));
    this.inflight.set(key, promise);
    const value = await promise;
    this.put(key, value);
    return value;
  }

  /** Forgets a job's renderings (on DELETE). */
  deletePrefix(prefix: string): void {
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.drop(key);
  }

  private put(key: string, value: CachedRendering): void {
    // One rendering may take at most an eighth of the cache: a few huge PNGs must not flush it.
    if (value.png.byteLength > this.maxBytes / 8) return;
    this.drop(key);
    for (const [oldest] of this.entries) {
      if (this.bytes + value.png.byteLength <= this.maxBytes) break;
      this.drop(oldest);
    }
    this.entries.set(key, { ...value, expiresAt: this.now() + this.ttlMs });
    this.bytes += value.png.byteLength;
  }

  private drop(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= entry.png.byteLength;
  }
}
