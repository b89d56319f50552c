// Warm-up: before a worker thread takes jobs, each configured method (WARMUP_METHODS) is compiled
// and run once per installed model, so no client waits for a probe, a compile or ONNX Runtime's
// session setup (ResNet-50: ~2.5 s before the first `gradient`). The run uses two samples/steps:
// what is warmed is the graph and its session, not the result.
import { ConfigError } from '../config/config.js';
import { explain } from '../methods/explain.js';
import { METHODS, type MethodName } from '../methods/params.js';
import { type ModelEntry } from '../models/registry.js';
import { type OwnedContext } from '../runtime/model-context.js';

/** The configured methods, validated: a typo fails at start, not silently. */
export function warmupMethods(list: string): MethodName[] {
  const names = list
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  const unknown = names.filter((m) => !(METHODS as readonly string[]).includes(m));
  if (unknown.length > 0) throw new ConfigError(`WARMUP_METHODS: unknown method(s) ${unknown.join(', ')}; known: ${METHODS.join(', ')}`);
  return names as MethodName[];
}

export interface WarmUpReport {
  model: string;
  method: MethodName;
  ms: number;
  error?: Error;
}

/**
 * Opens every model and runs each method once on a fixed input. A method a model cannot run
 * (SmoothDiff on an unsupported op, Grad-CAM without a pooling layer) is reported, not thrown:
 * its jobs will get the same coded error the warm-up saw.
 */
export async function warmUp(
  models: ModelEntry[],
  methods: readonly MethodName[],
  open: (entry: ModelEntry) => Promise<OwnedContext>,
  /** Asked before each run: true ends the warm-up there (the thread is shutting down). */
  stop?: () => boolean,
): Promise<WarmUpReport[]> {
  const reports: WarmUpReport[] = [];
  for (const entry of models) {
    for (const method of methods) {
      if (stop?.()) return reports;
      const t0 = performance.now();
      try {
        const ctx = await open(entry);
        const size = ctx.sampleShape.reduce((a, b) => a * b, 1);
        // A smooth, fixed input (zeros would leave a ReLU network's gradient degenerate).
        const data = Float32Array.from({ length: size }, (_, i) => Math.sin(i * 0.01));
        await explain(ctx, {
          x: { data, dims: [1, ...ctx.sampleShape] },
          params: { method, samples: 2, steps: 2, seed: 0, layer: entry.manifest.gradCamLayer },
          targets: [0],
        });
        reports.push({ model: entry.id, method, ms: performance.now() - t0 });
      } catch (err) {
        reports.push({ model: entry.id, method, ms: performance.now() - t0, error: err as Error });
      }
    }
  }
  return reports;
}
