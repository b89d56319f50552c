// Model contexts of one worker thread/process: opened once per model (probe facts from the disk
// cache when present) and kept so ONNX sessions are reused across jobs, within WORKER_MEMORY_MB:
// one SessionPool bounds every model's weights and sessions, least recently used closed first.
import { type Config, ortSpin } from '../config/config.js';
import { readCachedFacts, writeCachedFacts } from '../models/compile-cache.js';
import { type ModelEntry } from '../models/registry.js';
import { join } from 'node:path';
import { type OwnedContext, openModelContext } from '../runtime/model-context.js';
import { type PoolEvent, SessionPool } from '../runtime/session-pool.js';
import { pixelRange } from './manifest-mapping.js';

export class ModelContexts {
  private readonly open = new Map<string, Promise<OwnedContext>>();
  readonly pool: SessionPool;

  constructor(
    private readonly config: Config,
    private readonly warn: (message: string, err: Error) => void = () => {},
    private readonly info: (message: string, fields: Record<string, unknown>) => void = () => {},
  ) {
    this.pool = new SessionPool(config.WORKER_MEMORY_MB * 1024 * 1024, (e: PoolEvent) => this.info('closed to stay within WORKER_MEMORY_MB', { entry: e.label, mb: Math.round(e.bytes / 2 ** 20) }));
  }

  get(entry: ModelEntry): Promise<OwnedContext> {
    const key = `${entry.id}:${entry.hash}`;
    let ctx = this.open.get(key);
    if (!ctx) {
      ctx = this.create(entry, () => {
        if (this.open.get(key) === ctx) this.open.delete(key);
      });
      this.open.set(key, ctx);
      ctx.catch(() => this.open.delete(key));
    }
    return ctx;
  }

  private async create(entry: ModelEntry, onEvicted: () => void): Promise<OwnedContext> {
    const { config } = this;
    const cached = readCachedFacts(config.CACHE_DIR, entry.hash);
    const [H, W] = entry.manifest.input.size;
    const { channels, layout } = entry.manifest.input;
    const ctx = await openModelContext(entry.onnxPath, {
      facts: cached,
      input: entry.manifest.input.name,
      inputShape: layout === 'NCHW' ? [channels, H, W] : [H, W, channels],
      threads: config.ORT_THREADS || undefined,
      spin: ortSpin(config),
      executionProvider: config.EXECUTION_PROVIDER,
      deviceId: config.CUDA_DEVICE_ID,
      onFallback: (err) => this.warn('CUDA execution provider unavailable, running on the CPU', err),
      onSession: (session) => this.info('session created', { model: entry.id, graph: session.key, provider: session.provider, sharedWeights: session.shared }),
      pool: this.pool,
      label: entry.id,
      weightsDir: join(config.CACHE_DIR, 'weights'),
      onEvicted,
      budgetBytes: config.MEMORY_BUDGET_MB * 1024 * 1024,
      pixelRange: pixelRange(entry.manifest),
    });
    if (!cached) {
      try {
        writeCachedFacts(config.CACHE_DIR, entry.hash, ctx.facts);
      } catch (err) {
        this.warn('could not write the compile cache', err as Error);
      }
    }
    return ctx;
  }

  async close(): Promise<void> {
    const all = await Promise.allSettled(this.open.values());
    this.open.clear();
    await Promise.all(all.map((c) => (c.status === 'fulfilled' ? c.value.close() : undefined)));
  }
}
