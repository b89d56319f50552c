// Model contexts of one worker thread/process: opened once per model (probe facts from the disk
// cache when present), kept for the thread's life so ONNX sessions are reused across jobs.
import { type Config, ortSpin } from '../config/config.js';
import { readCachedFacts, writeCachedFacts } from '../models/compile-cache.js';
import { type ModelEntry } from '../models/registry.js';
import { type OwnedContext, openModelContext } from '../runtime/model-context.js';
import { pixelRange } from './manifest-mapping.js';

export class ModelContexts {
  private readonly open = new Map<string, Promise<OwnedContext>>();

  constructor(
    private readonly config: Config,
    private readonly warn: (message: string, err: Error) => void = () => {},
  ) {}

  get(entry: ModelEntry): Promise<OwnedContext> {
    const key = `${entry.id}:${entry.hash}`;
    let ctx = this.open.get(key);
    if (!ctx) {
      ctx = this.create(entry);
      this.open.set(key, ctx);
      ctx.catch(() => this.open.delete(key));
    }
    return ctx;
  }

  private async create(entry: ModelEntry): Promise<OwnedContext> {
    const { config } = this;
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
      onFallback: (err) => this.warn('CUDA execution provider unavailable, running on the CPU', err),
      budgetBytes: config.MEMORY_BUDGET_MB * 1024 * 1024,
      pixelRange: pixelRange(entry.manifest),
    });
    if (!cached) {
      try {
        writeCachedFacts(config.CACHE_DIR, entry.hash, ctx.facts, inputShape, ctx.fixedBatch === undefined ? 'dynamic' : 'fixed');
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
