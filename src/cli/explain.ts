import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { decodeNpy, encodeNpy } from '../imaging/npy.js';
import { inputGradient } from '../gradgraph/index.js';
import { gradient } from '../methods/gradient.js';
import { topK } from '../methods/targets.js';
import { compileSession, forwardSession, loadModel } from '../runtime/gradient-model.js';
import { UsageError, parseFlags, writeOutput } from './main.js';

const METHODS = ['gradient'];

function parseTargets(text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined;
  const targets = text.split(',').map((t) => Number(t.trim()));
  if (targets.some((t) => !Number.isInteger(t) || t < 0)) throw new UsageError(`--target must be class indices like 3 or 3,7, got ${text}`);
  return targets;
}

export async function runExplain(args: string[]): Promise<number> {
  const flags = parseFlags(args, ['model', 'input', 'method', 'target', 'output', 'threads'], ['model', 'input', 'output']);
  const method = flags['method'] ?? 'gradient';
  if (!METHODS.includes(method)) throw new UsageError(`unknown method '${method}'; available: ${METHODS.join(', ')}`);
  for (const f of ['model', 'input'] as const) {
    if (!existsSync(flags[f] as string)) throw new UsageError(`${f} file ${flags[f]} does not exist`);
  }
  const targets = parseTargets(flags['target']);
  const threads = flags['threads'] ? Number(flags['threads']) : undefined;
  const t0 = performance.now();
  const x = decodeNpy(readFileSync(flags['input'] as string));
  const loaded = await loadModel(flags['model'] as string, { threads });
  const expected = loaded.sampleShape;
  if (x.shape.length !== expected.length + 1 || expected.some((d, i) => x.shape[i + 1] !== d)) {
    throw new UsageError(`input has shape [${x.shape.join(',')}], the model expects [N,${expected.join(',')}]`);
  }
  const { compiled, session } = await compileSession(loaded, { threads });
  const outputName = compiled.explained;
  const forward = await forwardSession(loaded, outputName, { threads });
  const t1 = performance.now();
  const result = await gradient(
    { runner: session, input: compiled.input, seed: compiled.seed, gradient: inputGradient(compiled), explained: compiled.explained },
    forward,
    outputName,
    { data: x.data, dims: x.shape },
    targets,
  );
  const t2 = performance.now();
  writeOutput(flags['output'] as string, encodeNpy({ data: result.attribution.data, shape: result.attribution.dims }));
  await Promise.all([session.release(), forward.release()]);
  const report = {
    method,
    targets: result.targets,
    top5: topK(result.logits, 5),
    shape: result.attribution.dims,
    timings_ms: { prepare: Math.round(t1 - t0), compute: Math.round(t2 - t1) },
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
  return 0;
}
