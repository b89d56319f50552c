// `saliency bench [gradient|methods|memory|service]` (npm run bench): timings measured in one run, as ratios.
// - gradient: the gradient graph (forward + backward) over the original model's forward pass, per
//   model and batch size;
// - methods: one explanation per method against the same methods in PyTorch (Debian python3-torch,
//   tools/bench/pytorch_methods.py --serve, same thread count) at PyTorch's fastest batch size of
//   --torch-chunks, our runs and PyTorch's alternating and the ratio the median of the pairs, with
//   the resident memory after each method and the peak while it ran (PyTorch's too, at its best
//   batch size); plus SmoothDiff over our
//   SmoothGrad and samples=auto against a fixed n=50; then, ours only, the methods PyTorch has
//   no reference for here (the CAM family, NoiseGrad, FusionGrad, AdaptGrad) and what each quality
//   metric adds to a `gradient` job. --methods picks cases: reference, new, metrics or case ids;
// - memory: resident memory (RSS and PSS: shared weight pages counted once) after one job of each
//   method, one model per process, weights shared and (--compare) not shared;
// - service: a `gradient` job through the HTTP API of `saliency serve` in a process of its own
//   (embedded queue) against the same explanation in-process.
// Full-size models (ResNet-50, ViT-B/16) are exported once by tools/fixtures into .cache/bench/.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { availableParallelism } from 'node:os';
import { inputGradient } from '../gradgraph/index.js';
import { oneHotSeed } from '../methods/targets.js';
import { type ExplainResult, explain, forwardRunner } from '../methods/explain.js';
import { DEFAULT_BUDGET_BYTES } from '../methods/context.js';
import { type MethodParams } from '../methods/params.js';
import { METRIC_NAMES, evaluateMetrics } from '../metrics/evaluate.js';
import { compileSession, forwardSession, loadModel } from '../runtime/gradient-model.js';
import { openModelContext } from '../runtime/model-context.js';
import { type ModelContext } from '../methods/context.js';
import { TorchPeer } from './bench-torch.js';
import { UsageError, parseFlags } from './flags.js';

const CACHE = join('.cache', 'bench');
const DEFAULT_MODELS = ['resnet50', 'vit_b_16'];

/** A model given as a path to an .onnx file (no PyTorch reference), not a name the exporter knows. */
const isPath = (name: string) => name.endsWith('.onnx');

/** The exporter names full-size models <name>-op17.onnx; a path is used as it is. */
const modelFile = (name: string) => (isPath(name) ? name : join(CACHE, `${name}-op17.onnx`));

/** Makes the full-size reference models with Debian's PyTorch when they are missing. */
function ensureModels(names: string[]): void {
  const missing = names.filter((n) => !existsSync(modelFile(n)));
  if (missing.length === 0) return;
  const files = missing.filter(isPath);
  if (files.length > 0) throw new UsageError(`model file ${files.join(', ')} does not exist`);
  mkdirSync(CACHE, { recursive: true });
  process.stderr.write(`bench: exporting ${missing.join(', ')} with /usr/bin/python3 (Debian python3-torch) into ${CACHE}\n`);
  const r = spawnSync('/usr/bin/python3', ['tools/fixtures/make_gradient_fixtures.py', '--full', CACHE, '--only', missing.join(',')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('could not export the benchmark models: apt-get install -y python3-torch python3-torchvision python3-onnx');
}

/** Median time of `run` over `times` runs after the warm-up. */
async function median(times: number, run: () => Promise<unknown>): Promise<number> {
  return middle((await alternate(times, [run])).map(([t]) => t as number));
}

/**
 * Warm-up rounds before timing. The first two runs of a graph are slow (ResNet-50's gradient graph
 * at batch 16: 4.3 and 5.3 s, then 2.0–2.1 s): ONNX Runtime's arena is still growing and touching
 * fresh pages.
 */
const WARMUP_ROUNDS = 2;

/** Runs the functions in turn, `times` rounds after the warm-up rounds; the times of each round. */
async function alternate(times: number, runs: (() => Promise<unknown>)[]): Promise<number[][]> {
  for (let i = 0; i < WARMUP_ROUNDS; i++) for (const run of runs) await run();
  const rounds: number[][] = [];
  for (let i = 0; i < times; i++) {
    const round: number[] = [];
    for (const run of runs) {
      const t0 = performance.now();
      await run();
      round.push(performance.now() - t0);
    }
    rounds.push(round);
  }
  return rounds;
}

function middle(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
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

/** The context's own forward pass per image, the faster of batches 1 and 16 (a fixed batch: its own) (median of `repeat` runs each). */
async function forwardPerImageMs(ctx: ModelContext, repeat: number): Promise<number> {
  const { runner, output } = await forwardRunner(ctx);
  const perImage = async (n: number) => {
    const x = { data: randomBatch(n, ctx.sampleShape), dims: [n, ...ctx.sampleShape] };
    return (await median(repeat, () => runner.run({ [ctx.input]: x }, [output]))) / n;
  };
  // A graph with its batch baked in runs only at that batch.
  const batches = ctx.fixedBatch ? [ctx.fixedBatch] : [1, 16];
  let best = Infinity;
  for (const n of batches) best = Math.min(best, await perImage(n));
  return best;
}

async function benchGradient(models: string[], batches: number[], repeat: number, threads?: number): Promise<void> {
  ensureModels(models);
  const rows: string[][] = [['model', 'batch', 'forward ms', 'gradient ms', 'ratio (median of pairs)']];
  for (const name of models) {
    const loaded = await loadModel(modelFile(name), { threads });
    const { compiled, session } = await compileSession(loaded, { threads });
    const forward = await forwardSession(loaded, compiled.explained, { threads });
    const classes = loaded.facts.shapes.get(compiled.explained)?.[1] as number;
    for (const n of batches) {
      const x = { data: randomBatch(n, loaded.sampleShape), dims: [n, ...loaded.sampleShape] };
      const seed = oneHotSeed(new Array<number>(n).fill(0), classes);
      // Forward and gradient runs alternate, and the ratio is the median of per-pair ratios: on a
      // shared machine the load changes over seconds, and a pair sees the same load.
      const pairs = (await alternate(repeat, [
        () => forward.run({ [compiled.input]: x }),
        () => session.run({ [compiled.input]: x, [compiled.seed]: seed }, [inputGradient(compiled)]),
      ])) as [number, number][];
      const fwd = middle(pairs.map(([f]) => f));
      const grad = middle(pairs.map(([, g]) => g));
      const ratio = middle(pairs.map(([f, g]) => g / f));
      rows.push([name, String(n), fwd.toFixed(1), grad.toFixed(1), ratio.toFixed(2)]);
      process.stderr.write(`bench: ${name} batch ${n} done\n`);
    }
    await Promise.all([session.release(), forward.release()]);
  }
  printTable(rows);
}

/** Which cases `--methods` picks: the PyTorch comparison, the methods without a reference, the metrics. */
type CaseGroup = 'reference' | 'new' | 'metrics';

interface MethodCase {
  /** Its name for `--methods`. */
  id: string;
  label: string;
  params: MethodParams;
  /** Key in the PyTorch reference's results. */
  torch: string;
}

const METHOD_CASES: MethodCase[] = [
  { id: 'gradient', label: 'gradient', params: { method: 'gradient' }, torch: 'gradient' },
  { id: 'integrated-gradients', label: 'integrated-gradients (50)', params: { method: 'integrated-gradients', steps: 50 }, torch: 'integrated-gradients' },
  { id: 'smoothgrad', label: 'smoothgrad (n=50)', params: { method: 'smoothgrad', samples: 50, seed: 1 }, torch: 'smoothgrad' },
  { id: 'smoothdiff-20', label: 'smoothdiff (n=20)', params: { method: 'smoothdiff', samples: 20, seed: 1 }, torch: 'smoothdiff-20' },
  { id: 'smoothdiff-50', label: 'smoothdiff (n=50)', params: { method: 'smoothdiff', samples: 50, seed: 1 }, torch: 'smoothdiff-50' },
];

/** The row of a metric: its time on top of a `gradient` job. */
const metricLabel = (metric: string) => `metrics=${metric} (extra over gradient)`;

/** samples=auto at the default tolerance against the fixed n=50 (a reference row of its own). */
const AUTO_CASE = 'smoothgrad-auto';

/** Methods PyTorch has no reference for here, at their default settings: our time only. */
const NEW_CASES: { id: string; label: string; params: MethodParams }[] = [
  { id: 'smooth-grad-cam', label: 'smoothgrad base=grad-cam (n=50)', params: { method: 'smoothgrad', base: 'grad-cam', seed: 1 } },
  { id: 'grad-cam-plus-plus', label: 'grad-cam-plus-plus', params: { method: 'grad-cam-plus-plus' } },
  { id: 'smooth-grad-cam-plus-plus', label: 'smooth-grad-cam-plus-plus (n=25)', params: { method: 'smooth-grad-cam-plus-plus', seed: 1 } },
  { id: 'noisegrad', label: 'noisegrad (10 models)', params: { method: 'noisegrad', seed: 1 } },
  { id: 'fusiongrad', label: 'fusiongrad (10 models × n=10)', params: { method: 'fusiongrad', seed: 1 } },
  { id: 'adaptgrad', label: 'adaptgrad (n=50)', params: { method: 'adaptgrad', seed: 1 } },
];

/** What `--methods` selects: groups and case ids, comma-separated; default all. */
export function selectCases(text: string | undefined): Set<string> {
  const groups: Record<CaseGroup, string[]> = {
    reference: [...METHOD_CASES.map((c) => c.id), AUTO_CASE],
    new: NEW_CASES.map((c) => c.id),
    metrics: [...METRIC_NAMES],
  };
  const every = Object.values(groups).flat();
  if (text === undefined || text === 'all') return new Set(every);
  const picked = new Set<string>();
  for (const token of text.split(',').map((t) => t.trim())) {
    const ids = groups[token as CaseGroup] ?? (every.includes(token) ? [token] : undefined);
    if (!ids) throw new UsageError(`--methods: '${token}' is none of all, ${Object.keys(groups).join(', ')}, ${every.join(', ')}`);
    for (const id of ids) picked.add(id);
  }
  return picked;
}

/** The reference methods whose points PyTorch can batch: each is timed at every --torch-chunks size. */
const CHUNKED = new Set(['smoothgrad', 'integrated-gradients']);

/** PyTorch's side of one reference method: its median, the per-pair ratio and its batch sizes. */
interface TorchResult {
  ms: number;
  /** Median over the pairs of ours ÷ PyTorch, each pair run back to back. */
  ratio: number;
  peakRssMb: number | null;
  /** The batch size it ran at ('all' or points per pass) and, where several were tried, each one's time. */
  chunk: string;
  byChunk?: Record<string, { ms: number; peakRssMb: number | null }>;
}

/**
 * Times one reference method against PyTorch: PyTorch's fastest batch size first (for the
 * methods it batches), then `repeat` rounds of one run of ours and one of PyTorch's, back to
 * back. Ours ÷ PyTorch is the median of the per-round ratios, so load that drifts over minutes
 * reaches both sides of each ratio. Undefined where PyTorch has no reference for this model.
 */
async function pairWithTorch(
  peer: TorchPeer,
  c: MethodCase,
  repeat: number,
  chunks: string[],
  runOurs: () => Promise<unknown>,
): Promise<{ ours: number[]; torch: TorchResult } | undefined> {
  const byChunk: Record<string, { ms: number; peakRssMb: number | null }> = {};
  if (CHUNKED.has(c.torch)) {
    for (const chunk of chunks) {
      const a = await peer.time({ run: c.torch, chunk, warmup: 1, times: repeat, resetPeak: true });
      if (a.ms === null) return undefined;
      byChunk[chunk] = { ms: middle(a.ms), peakRssMb: a.peakRssMb };
    }
  }
  const tried = Object.entries(byChunk).sort(([, a], [, b]) => a.ms - b.ms);
  const chunk = tried[0]?.[0] ?? 'all';
  // Warm both sides (PyTorch is warm already where its batch sizes were tried).
  const warm = await peer.time({ run: c.torch, chunk, warmup: tried.length > 0 ? 0 : 1, times: 0, resetPeak: true });
  if (warm.ms === null) return undefined;
  for (let i = 0; i < WARMUP_ROUNDS; i++) await runOurs();
  const ours: number[] = [];
  const theirs: number[] = [];
  let peakRssMb: number | null = null;
  for (let i = 0; i < repeat; i++) {
    const t0 = performance.now();
    await runOurs();
    ours.push(performance.now() - t0);
    const a = await peer.time({ run: c.torch, chunk, times: 1 });
    theirs.push((a.ms as number[])[0] as number);
    peakRssMb = a.peakRssMb;
  }
  const ratio = middle(ours.map((o, i) => o / (theirs[i] as number)));
  return {
    ours,
    torch: { ms: middle(theirs), ratio, peakRssMb, chunk, byChunk: tried.length > 0 ? byChunk : undefined },
  };
}

/**
 * Resets this process's peak resident memory (Linux: `clear_refs` 5), so `peakRssMb` tells the
 * peak of what runs next; false where the kernel does not allow it.
 */
function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** Peak resident memory (VmHWM) in MB since the process started or resetPeakRss. */
function peakRssMb(): number | undefined {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return kb === undefined ? undefined : Math.round(Number(kb) / 1024);
  } catch {
    return undefined;
  }
}

/** This process's resident memory in MB: RSS, and PSS where Linux reports it (mapped weights counted once). */
export function residentMb(): { rss: number; pss: number | undefined } {
  const rss = Math.round(process.memoryUsage().rss / 2 ** 20);
  try {
    const pss = /Pss:\s+(\d+) kB/.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))?.[1];
    return { rss, pss: pss === undefined ? undefined : Math.round(Number(pss) / 1024) };
  } catch {
    return { rss, pss: undefined };
  }
}

const mb = (m: { rss: number; pss: number | undefined }) => `${m.rss}${m.pss === undefined ? '' : ` (${m.pss})`}`;

async function benchMethods(
  models: string[],
  repeat: number,
  threads: number,
  budgetMb: number,
  blas: string | undefined,
  chunks: string,
  picked: Set<string>,
): Promise<void> {
  ensureModels(models);
  const reference = METHOD_CASES.filter((c) => picked.has(c.id));
  const fresh = NEW_CASES.filter((c) => picked.has(c.id));
  const metrics = METRIC_NAMES.filter((m) => picked.has(m));
  const rows: string[][] = [
    [
      'model',
      'method',
      'ours ms',
      'RSS (PSS) MB',
      'peak RSS MB',
      'PyTorch best ms',
      'PyTorch batch',
      'PyTorch peak RSS MB',
      'ours / PyTorch (median of pairs)',
      'faster',
    ],
  ];
  const ownRows: string[][] = [['model', 'method (no PyTorch reference)', 'ours ms', 'RSS (PSS) MB']];
  for (const name of models) {
    const ctx = await openModelContext(modelFile(name), { threads, budgetBytes: budgetMb * 1024 * 1024 });
    const x = { data: randomBatch(1, ctx.sampleShape), dims: [1, ...ctx.sampleShape] };
    const shown = isPath(name) ? basename(name) : name;
    const ours: Record<string, number> = {};
    const memory: Record<string, string> = {};
    const peak: Record<string, string> = {};
    /** Times `label` with `measure` (its median ms), with the memory after it and the peak while it ran. */
    const time = async (label: string, measure: () => Promise<number>) => {
      const resettable = resetPeakRss();
      ours[label] = await measure();
      memory[label] = mb(residentMb());
      peak[label] = resettable ? String(peakRssMb() ?? '') : '';
      process.stderr.write(`bench: ${name} ${label}: ${ours[label]?.toFixed(0)} ms, ${memory[label]} MB\n`);
    };
    const timeOurs = (label: string, run: () => Promise<unknown>) => time(label, () => median(repeat, run));
    // A model given as a file has no PyTorch export to compare with.
    const peer =
      reference.length > 0 && !isPath(name)
        ? await TorchPeer.start({ model: name, threads, blas, samples: 50, steps: 50, smoothdiffSamples: [20, 50] })
        : undefined;
    const torch: Record<string, TorchResult> = {};
    try {
      for (const c of reference) {
        const run = () => explain(ctx, { x, params: c.params, targets: [0] });
        // Paired with PyTorch where it has this method for this model; else ours alone.
        let paired: Awaited<ReturnType<typeof pairWithTorch>>;
        await time(c.label, async () => {
          paired = peer ? await pairWithTorch(peer, c, repeat, chunks.split(','), run) : undefined;
          return paired ? middle(paired.ours) : median(repeat, run);
        });
        if (paired) torch[c.torch] = paired.torch;
      }
    } finally {
      await peer?.close();
    }
    for (const c of fresh) await timeOurs(c.label, () => explain(ctx, { x, params: c.params, targets: [0] }));
    // A metric's cost: what a job with metrics=<name> takes on top of the same `gradient` job,
    // which is the metric's own time on that job's result.
    const gradient = metrics.length > 0 ? await explain(ctx, { x, params: { method: 'gradient' }, targets: [0] }) : undefined;
    for (const metric of metrics) {
      await timeOurs(metricLabel(metric), () => evaluateMetrics(ctx, x, { method: 'gradient' }, gradient as ExplainResult, { metrics: [metric] }));
    }
    // SmoothDiff's floor: its n statistics passes and the clean pass cost a forward pass each at
    // best (the fastest per image of batches 1 and 16), and its backward a gradient job.
    const floorMs = picked.has('smoothdiff-50')
      ? 51 * (await forwardPerImageMs(ctx, repeat)) + (await median(repeat, () => explain(ctx, { x, params: { method: 'gradient' }, targets: [0] })))
      : undefined;
    const autoParams: MethodParams = { method: 'smoothgrad', samples: 'auto', maxSamples: 50, seed: 1 };
    const auto = picked.has(AUTO_CASE) ? await explain(ctx, { x, params: autoParams, targets: [0] }) : undefined;
    const autoMs = auto ? await median(repeat, () => explain(ctx, { x, params: autoParams, targets: [0] })) : undefined;
    await ctx.close();
    for (const label of [...fresh.map((c) => c.label), ...metrics.map(metricLabel)]) {
      const t = ours[label] as number;
      ownRows.push([shown, label, t.toFixed(t < 10 ? 1 : 0), memory[label] ?? '']);
    }
    if (reference.length === 0 && !auto) continue;
    for (const c of reference) {
      const t = torch[c.torch];
      const o = ours[c.label] as number;
      rows.push([
        shown,
        c.label,
        o.toFixed(0),
        memory[c.label] ?? '',
        peak[c.label] ?? '',
        t ? t.ms.toFixed(0) : 'n/a',
        t ? t.chunk : '',
        t ? String(t.peakRssMb ?? '') : '',
        t ? t.ratio.toFixed(2) : 'n/a',
        t ? (t.ratio < 1 ? 'ours' : 'PyTorch') : '',
      ]);
    }
    const sg = ours['smoothgrad (n=50)'];
    const sd = ours['smoothdiff (n=50)'];
    if (sg !== undefined && sd !== undefined) rows.push([shown, 'smoothdiff n=50 / our smoothgrad n=50', '', '', '', '', '', '', (sd / sg).toFixed(2), '']);
    if (sd !== undefined && floorMs !== undefined)
      rows.push([
        shown,
        'smoothdiff n=50 / its floor (51 forward passes + a gradient job)',
        floorMs.toFixed(0),
        '',
        '',
        '',
        '',
        '',
        (sd / floorMs).toFixed(2),
        '',
      ]);
    if (auto && autoMs !== undefined) {
      rows.push([
        shown,
        `smoothgrad samples=auto: ${auto.samplesUsed?.[0]} samples, error ${auto.relativeError?.[0]?.toFixed(3)}`,
        autoMs.toFixed(0),
        '',
        '',
        '',
        '',
        '',
        sg === undefined ? '' : (autoMs / sg).toFixed(2),
        sg === undefined ? '' : 'vs n=50',
      ]);
    }
    for (const [method, { byChunk }] of Object.entries(torch)) {
      if (!byChunk) continue;
      process.stdout.write(
        `PyTorch ${name} ${method} by batch size: ${Object.entries(byChunk)
          .map(([k, v]) => `${k}: ${v.ms.toFixed(0)} ms${v.peakRssMb ? ` (peak ${v.peakRssMb} MB)` : ''}`)
          .join(', ')}\n`,
      );
    }
  }
  if (rows.length > 1) printTable(rows);
  if (ownRows.length > 1) {
    if (rows.length > 1) process.stdout.write('\n');
    printTable(ownRows);
  }
}

const MEMORY_METHODS: MethodParams[] = [
  { method: 'gradient' },
  { method: 'integrated-gradients' },
  { method: 'smoothgrad' },
  { method: 'vargrad' },
  { method: 'smoothdiff' },
  { method: 'guided-backprop' },
  { method: 'grad-cam' },
];

/** One model in this process: resident memory after one job of each method (default parameters). */
async function memoryChild(model: string, threads: number | undefined, share: boolean): Promise<void> {
  const before = residentMb();
  const ctx = await openModelContext(modelFile(model), { threads, shareWeights: share });
  const x = { data: randomBatch(1, ctx.sampleShape), dims: [1, ...ctx.sampleShape] };
  const rows: Record<string, unknown>[] = [
    { step: 'start', ...before },
    { step: 'opened', ...residentMb() },
  ];
  for (const params of MEMORY_METHODS) {
    const t0 = performance.now();
    await explain(ctx, { x, params: { ...params, seed: 1 }, targets: [0] });
    rows.push({ step: params.method, ms: Math.round(performance.now() - t0), ...residentMb() });
  }
  rows.push({ step: 'weight file', mb: Math.round(ctx.weightFile().bytes / 2 ** 20), sessions: ctx.sessionInfo().length });
  await ctx.close();
  process.stdout.write(`${JSON.stringify(rows)}\n`);
}

async function benchMemory(models: string[], threads: number | undefined, compare: boolean): Promise<void> {
  ensureModels(models);
  const table: string[][] = [['model', 'after', ...(compare ? ['not shared: RSS MB'] : []), 'shared: RSS (PSS) MB', 'ms']];
  for (const name of models) {
    const run = (share: boolean) => {
      const r = spawnSync(
        process.execPath,
        [
          process.argv[1] ?? 'bin/saliency.js',
          'bench',
          'memory-child',
          '--models',
          name,
          '--share',
          String(share),
          ...(threads ? ['--threads', String(threads)] : []),
        ],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      if (r.status !== 0) throw new Error(`memory run for ${name} failed (exit ${r.status})`);
      return JSON.parse(r.stdout.trim().split('\n').pop() ?? '[]') as {
        step: string;
        rss?: number;
        pss?: number;
        ms?: number;
        mb?: number;
        sessions?: number;
      }[];
    };
    const shared = run(true);
    const unshared = compare ? run(false) : [];
    for (const [i, row] of shared.entries()) {
      if (row.step === 'weight file') {
        table.push([name, `weight file ${row.mb} MB, ${row.sessions} sessions`, ...(compare ? [''] : []), '', '']);
        continue;
      }
      table.push([
        name,
        row.step,
        ...(compare ? [String(unshared[i]?.rss ?? '')] : []),
        `${row.rss} (${row.pss ?? '?'})`,
        row.ms === undefined ? '' : String(row.ms),
      ]);
    }
  }
  printTable(table);
}

/** A `gradient` job through the HTTP API (embedded queue, a .npy tensor, Prefer: wait) against explain() in-process. */
async function benchService(models: string[], repeat: number, threads: number | undefined): Promise<void> {
  ensureModels(models);
  const { runServiceBench } = await import('./bench-service.js');
  const rows: string[][] = [['model', 'in-process ms', 'through the API ms', 'overhead ms (median of pairs)', 'job: explanation ms', 'job: around it ms']];
  for (const name of models) {
    const r = await runServiceBench(modelFile(name), repeat, threads, alternate);
    rows.push([name, r.inProcess.toFixed(1), r.api.toFixed(1), r.overhead.toFixed(1), r.computeInJob.toFixed(0), r.aroundCompute.toFixed(0)]);
  }
  printTable(rows);
}

function printTable(rows: string[][]): void {
  const widths = (rows[0] as string[]).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  for (const r of rows) process.stdout.write(`${r.map((v, c) => v.padStart(widths[c] as number)).join('  ')}\n`);
}

export async function runBench(args: string[]): Promise<number> {
  const [first, ...others] = args;
  const [suite, rest] = first === undefined || first.startsWith('--') ? ['all', args] : [first, others];
  if (suite === 'all') {
    await runBench(['gradient', ...rest]);
    return runBench(['methods', ...rest]);
  }
  // --torch-blas: a BLAS for PyTorch to preload (Debian's torch otherwise uses the slow netlib one).
  // --budget-mb: the methods' memory budget; default the service's, so the times are what users get.
  // --methods (bench methods): which cases to time, by group or id (selectCases).
  const flags = parseFlags(rest, ['models', 'batches', 'repeat', 'threads', 'budget-mb', 'torch-blas', 'torch-chunks', 'share', 'compare', 'methods'], []);
  const models = flags['models']?.split(',') ?? DEFAULT_MODELS;
  const batches = (flags['batches'] ?? '1,16').split(',').map(Number);
  const repeat = Number(flags['repeat'] ?? 3);
  const threads = flags['threads'] ? Number(flags['threads']) : undefined;
  if (suite === 'gradient') await benchGradient(models, batches, repeat, threads);
  else if (suite === 'methods') {
    await benchMethods(
      models,
      repeat,
      threads ?? availableParallelism(),
      Number(flags['budget-mb'] ?? DEFAULT_BUDGET_BYTES / 2 ** 20),
      flags['torch-blas'],
      flags['torch-chunks'] ?? '1,5,10,25,all',
      selectCases(flags['methods']),
    );
  } else if (suite === 'memory') await benchMemory(flags['models']?.split(',') ?? ['vgg16'], threads, flags['compare'] === 'true');
  else if (suite === 'memory-child') await memoryChild(models[0] as string, threads, flags['share'] !== 'false');
  else if (suite === 'service') await benchService(models, repeat, threads);
  else throw new UsageError(`unknown bench suite '${suite}'; available: gradient, methods, memory, service`);
  return 0;
}
