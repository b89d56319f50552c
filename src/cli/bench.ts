// `saliency bench gradient`: time of the gradient graph (forward + backward) over the forward-only
// time of the original model, measured in the same run, per model and batch size. Full-size models
// are made once by tools/fixtures (Debian PyTorch) into .cache/bench/.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { inputGradient } from '../gradgraph/index.js';
import { oneHotSeed } from '../methods/targets.js';
import { compileSession, forwardSession, loadModel } from '../runtime/gradient-model.js';
import { UsageError, parseFlags } from './main.js';

const CACHE = join('.cache', 'bench');
const DEFAULT_MODELS = ['resnet50', 'vit_b_16'];

/** Makes the full-size reference models with Debian's PyTorch when they are missing. */
function ensureModels(names: string[]): void {
  const missing = names.filter((n) => !existsSync(join(CACHE, `${n}.onnx`)));
  if (missing.length === 0) return;
  mkdirSync(CACHE, { recursive: true });
  process.stderr.write(`bench: exporting ${missing.join(', ')} with /usr/bin/python3 (Debian python3-torch) into ${CACHE}\n`);
  const r = spawnSync('/usr/bin/python3', ['tools/fixtures/make_gradient_fixtures.py', '--full', CACHE, '--only', missing.join(',')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('could not export the benchmark models: apt-get install -y python3-torch python3-torchvision python3-onnx');
}

async function median(times: number, run: () => Promise<unknown>): Promise<number> {
  await run(); // warm-up: allocations, kernel selection
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    await run();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] as number;
}

function randomBatch(n: number, shape: number[]): Float32Array {
  const data = new Float32Array(n * shape.reduce((a, b) => a * b, 1));
  let s = 12345;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 2 ** 31 - 1;
  }
  return data;
}

async function benchGradient(models: string[], batches: number[], repeat: number, threads?: number): Promise<void> {
  ensureModels(models);
  const rows: string[][] = [['model', 'batch', 'forward ms', 'gradient ms', 'ratio']];
  for (const name of models) {
    const loaded = await loadModel(join(CACHE, `${name}.onnx`), { threads });
    const { compiled, session } = await compileSession(loaded, { threads });
    const forward = await forwardSession(loaded, compiled.explained, { threads });
    const classes = loaded.facts.shapes.get(compiled.explained)?.[1] as number;
    for (const n of batches) {
      const x = { data: randomBatch(n, loaded.sampleShape), dims: [n, ...loaded.sampleShape] };
      const seed = oneHotSeed(new Array<number>(n).fill(0), classes);
      const fwd = await median(repeat, () => forward.run({ [compiled.input]: x }));
      const grad = await median(repeat, () => session.run({ [compiled.input]: x, [compiled.seed]: seed }, [inputGradient(compiled)]));
      rows.push([name, String(n), fwd.toFixed(1), grad.toFixed(1), (grad / fwd).toFixed(2)]);
      process.stderr.write(`bench: ${name} batch ${n} done\n`);
    }
    await Promise.all([session.release(), forward.release()]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] as string).length)));
  for (const r of rows) process.stdout.write(`${r.map((v, c) => v.padStart(widths[c] as number)).join('  ')}\n`);
}

export async function runBench(args: string[]): Promise<number> {
  const [suite = 'gradient', ...rest] = args;
  const flags = parseFlags(rest, ['models', 'batches', 'repeat', 'threads'], []);
  const models = flags['models']?.split(',') ?? DEFAULT_MODELS;
  const batches = (flags['batches'] ?? '1,16').split(',').map(Number);
  const repeat = Number(flags['repeat'] ?? 3);
  const threads = flags['threads'] ? Number(flags['threads']) : undefined;
  if (suite !== 'gradient') throw new UsageError(`unknown bench suite '${suite}'; available: gradient`);
  await benchGradient(models, batches, repeat, threads);
  return 0;
}
