// Model contexts of one worker thread/process: opened once per model (probe facts from the disk
// cache when present), kept for the thread's life so ONNX sessions are reused across jobs. After a
// rescan, contexts of models that were removed or changed are closed between jobs (`retain`).
import { type Config, ortSpin } from '../config/config.js';
import { readCachedFacts, writeCachedFacts } from '../models/compile-cache.js';
import { type ModelEntry } from '../models/registry.js';
import { type OwnedContext, openModelContext } from '../runtime/model-context.js';
import { pixelRange } from './manifest-mapping.js';

const keyOf = (entry: ModelEntry) => `${entry.id}:${entry.hash}`;

/** Opens one installed model as the service runs it: manifest input and size, config's runtime settings. */
export async function openEntry(config: Config, entry: ModelEntry, warn: (message: string, err: Error) => void = () => {}): Promise<OwnedContext> {
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
    onFallback: (err) => warn('CUDA execution provider unavailable, running on the CPU', err),
    budgetBytes: config.MEMORY_BUDGET_MB * 1024 * 1024,
    pixelRange: pixelRange(entry.manifest),
    layout,
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

  constructor(
    private readonly config: Config,
    private readonly warn: (message: string, err: Error) => void = () => {},
  ) {}

  get(entry: ModelEntry): Promise<OwnedContext> {
    const key = keyOf(entry);
    let ctx = this.open.get(key);
    if (!ctx) {
      ctx = openEntry(this.config, entry, this.warn);
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
