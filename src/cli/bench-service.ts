// `saliency bench service`: what the service adds to one explanation. A `gradient` job goes
// through the real HTTP API (embedded queue, worker thread, a preprocessed .npy tensor, answered
// when done with `Prefer: wait`), alternating with the same explanation in this process; the
// overhead is the median of per-pair differences.
import { mkdirSync, mkdtempSync, copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/config.js';
import { buildApp } from '../gateway/app.js';
import { encodeNpy } from '../imaging/npy.js';
import { createJobsBackend } from '../jobs/index.js';
import { explain } from '../methods/explain.js';
import { ModelRegistry } from '../models/registry.js';
import { openModelContext } from '../runtime/model-context.js';
import { PROCESSOR_FILE } from '../worker/index.js';

type Alternate = (times: number, runs: (() => Promise<unknown>)[]) => Promise<number[][]>;

export async function runServiceBench(
  modelPath: string,
  repeat: number,
  threads: number | undefined,
  alternate: Alternate,
): Promise<{ inProcess: number; api: number; overhead: number; computeInJob: number; aroundCompute: number }> {
  // A models folder with this one model, a manifest for a preprocessed [3,224,224] input.
  const dir = mkdtempSync(join(tmpdir(), 'saliency-bench-service-'));
  const modelDir = join(dir, 'models', 'bench');
  mkdirSync(modelDir, { recursive: true });
  copyFileSync(modelPath, join(modelDir, 'model.onnx'));
  writeFileSync(
    join(modelDir, 'manifest.json'),
    JSON.stringify({
      name: 'bench',
      file: 'model.onnx',
      input: { layout: 'NCHW', size: [224, 224], channels: 3, resize: { mode: 'resize' }, range: [0, 1], mean: [0, 0, 0], std: [1, 1, 1] },
    }),
  );
  const env = {
    MODELS_DIR: join(dir, 'models'),
    CACHE_DIR: join(dir, 'cache'),
    LOG_LEVEL: 'silent',
    RATE_LIMIT_PER_MINUTE: '0',
    WARMUP_METHODS: 'gradient',
    ...(threads ? { ORT_THREADS: String(threads) } : {}),
  };
  // Worker threads read their configuration from the environment.
  Object.assign(process.env, env);
  delete process.env['REDIS_URL'];
  const config = loadConfig(env);
  const backend = createJobsBackend(config, { processorFile: PROCESSOR_FILE });
  const app = await buildApp({ config, registry: ModelRegistry.load(config.MODELS_DIR), queue: backend.queue, store: backend.store, mode: backend.mode });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const ctx = await openModelContext(join(modelDir, 'model.onnx'), { threads, inputShape: [3, 224, 224] });
  try {
    const shape = [3, 224, 224];
    const data = Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => Math.sin(i * 0.001));
    const npy = encodeNpy({ data, shape });
    const viaApi = async () => {
      const form = new FormData();
      form.set('model', 'bench');
      form.set('method', 'gradient');
      form.set('target', '0');
      form.set('tensor', new Blob([npy]), 'x.npy');
      const res = await fetch(`${url}/v1/explanations`, { method: 'POST', body: form, headers: { prefer: 'wait=60' } });
      if (res.status !== 200) throw new Error(`the API answered ${res.status}: ${await res.text()}`);
      const body = (await res.json()) as { explanations: { timings: { computeMs: number; totalMs: number } }[] };
      jobTimes.push(body.explanations[0]?.timings as { computeMs: number; totalMs: number });
    };
    // The job's own timings split the overhead: its explanation in the job thread (computeMs), the
    // job thread's work around it (totalMs − computeMs), and the rest (gateway, hop, client).
    const jobTimes: { computeMs: number; totalMs: number }[] = [];
    const direct = () => explain(ctx, { x: { data, dims: [1, ...shape] }, params: { method: 'gradient' }, targets: [0] });
    const pairs = await alternate(repeat, [direct, viaApi]);
    const timed = jobTimes.slice(-repeat);
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;
    return {
      inProcess: median(pairs.map((p) => p[0] as number)),
      api: median(pairs.map((p) => p[1] as number)),
      overhead: median(pairs.map((p) => (p[1] as number) - (p[0] as number))),
      computeInJob: median(timed.map((t) => t.computeMs)),
      aroundCompute: median(timed.map((t) => t.totalMs - t.computeMs)),
    };
  } finally {
    await ctx.close();
    await app.close();
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
