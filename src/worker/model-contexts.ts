// Model contexts of one worker thread/process: opened once per model (probe facts from the disk
// cache when present) and kept so ONNX sessions are reused across jobs, within WORKER_MEMORY_MB:
// one SessionPool bounds every model's weights and sessions, least recently used closed first.
// After a rescan, contexts of models that were removed or changed are closed between jobs (`retain`).
import { join } from 'node:path';
import { type Config, ortSpin } from '../config/config.js';
import { readCachedFacts, writeCachedFacts } from '../models/compile-cache.js';
import { type ModelEntry } from '../models/registry.js';
import { type ContextOptions, type OwnedContext, openModelContext } from '../runtime/model-context.js';
import { type PoolEvent, SessionPool } from '../runtime/session-pool.js';
import { pixelRange } from './manifest-mapping.js';

const keyOf = (entry: ModelEntry) => `${entry.id}:${entry.hash}`;

type Warn = (message: string, err: Error) => void;

/**
 * Opens one installed model as the service runs it: manifest input and size, config's runtime
 * settings, weights shared through CACHE_DIR. `extra` adds the worker's pool and logging hooks.
 */
export async function openEntry(config: Config, entry: ModelEntry, warn: Warn = () => {}, extra: Partial<ContextOptions> = {}): Promise<OwnedContext> {
  const [H, W] = entry.manifest.input.size;
  const { channels, layout } = entry.manifest.input;
  const inputShape = layout === 'NCHW' ? [channels, H, W] : [H, W, channels];
  const cached = readCachedFacts(config.CACHE_DIR, entry.hash, inputShape);
  const ctx = await openModelContext(entry.onnxPath, {
    facts: cached,
    input: entry.manifest.input.name,
    inputShape,
    threads: config.ORT_THREADS || undefined,
    spin: ortSpin(config),
    executionProvider: config.EXECUTION_PROVIDER,
    deviceId: config.CUDA_DEVICE_ID,
    cudaPrecision: config.CUDA_PRECISION,
    onFallback: (err) => warn('CUDA execution provider unavailable, running on the CPU', err),
    label: entry.id,
    weightsDir: join(config.CACHE_DIR, 'weights'),
    budgetBytes: config.MEMORY_BUDGET_MB * 1024 * 1024,
    pixelRange: pixelRange(entry.manifest),
    layout,
    ...extra,
  });
  if (!cached) {
    try {
      writeCachedFacts(config.CACHE_DIR, entry.hash, ctx.facts, inputShape, ctx.fixedBatch === undefined ? 'dynamic' : 'fixed');
    } catch (err) {
      warn('could not write the compile cache', err as Error);
    }
  }
  return ctx;
}

export class ModelContexts {
  private readonly open = new Map<string, Promise<OwnedContext>>();
  readonly pool: SessionPool;

  constructor(
    private readonly config: Config,
    private readonly warn: Warn = () => {},
    private readonly info: (message: string, fields: Record<string, unknown>) => void = () => {},
  ) {
    this.pool = new SessionPool(config.WORKER_MEMORY_MB * 1024 * 1024, (e: PoolEvent) =>
      this.info('closed to stay within WORKER_MEMORY_MB', { entry: e.label, mb: Math.round(e.bytes / 2 ** 20) }),
    );
  }

  get(entry: ModelEntry): Promise<OwnedContext> {
    const key = keyOf(entry);
    let ctx = this.open.get(key);
    if (!ctx) {
      ctx = openEntry(this.config, entry, this.warn, {
        onSession: (session) =>
          this.info('session created', {
            model: entry.id,
            graph: session.key,
            provider: session.provider,
            precision: session.precision,
            ...(session.reason ? { float32Because: session.reason } : {}),
            sharedWeights: session.shared,
            prepacked: session.prepacked,
          }),
        pool: this.pool,
        onEvicted: () => {
          if (this.open.get(key) === ctx) this.open.delete(key);
        },
      });
      this.open.set(key, ctx);
      ctx.catch(() => this.open.delete(key));
    }
    return ctx;
  }

  /** Closes the contexts of models not among `entries` (call it when no job is running). */
  async retain(entries: readonly ModelEntry[]): Promise<void> {
    const keep = new Set(entries.map(keyOf));
    const stale = [...this.open].filter(([key]) => !keep.has(key));
    for (const [key] of stale) this.open.delete(key);
    const all = await Promise.allSettled(stale.map(([, ctx]) => ctx));
    await Promise.all(all.map((c) => (c.status === 'fulfilled' ? c.value.close() : undefined)));
  }

  async close(): Promise<void> {
    const all = await Promise.allSettled(this.open.values());
    this.open.clear();
    await Promise.all(all.map((c) => (c.status === 'fulfilled' ? c.value.close() : undefined)));
  }
}
