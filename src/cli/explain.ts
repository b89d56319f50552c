// `saliency explain`: one explanation of a .npy batch (or an image with a manifest) to .npy/.png.
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { decodeNpy, encodeNpy } from '../imaging/npy.js';
import { explain } from '../methods/explain.js';
import { type Legend, type RenderParams, renderComparisonGrid, renderSweepGrid } from '../imaging/index.js';
import { BASE_METHODS, BASELINES, METHODS, type MethodName, type MethodParams, NOISY_METHODS as NOISY, PRESETS, methodKind } from '../methods/params.js';
import { pixelRange } from '../worker/manifest-mapping.js';
import { type ImageInput, RENDER_FLAGS, findManifest, imageInput, renderPng } from './image-input.js';
import { IG_RULES } from '../methods/quadrature.js';
import { topK } from '../methods/targets.js';
import { type OwnedContext, openModelContext } from '../runtime/model-context.js';
import { UsageError, writeOutput } from './flags.js';

const STRING_FLAGS = [
  'model',
  'input',
  'manifest',
  'method',
  'target',
  'output',
  'threads',
  'samples',
  'noise',
  'sigma',
  'seed',
  'steps',
  'rule',
  'baseline',
  'base',
  'layer',
  'preset',
  'relu',
  'confidence',
  'sweep-noise',
  'sweep-samples',
  ...RENDER_FLAGS,
] as const;

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}; got '${value}'`);
  return value as T;
}

function numberFlag(name: string, value: string | undefined, check: (n: number) => boolean, what: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || !check(n)) throw new UsageError(`--${name} must be ${what}; got '${value}'`);
  return n;
}

function parseTargets(text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined;
  const targets = text.split(',').map((t) => Number(t.trim()));
  if (targets.some((t) => !Number.isInteger(t) || t < 0)) throw new UsageError(`--target must be class indices like 3 or 3,7, got ${text}`);
  return targets;
}

export async function runExplain(args: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      options: { ...Object.fromEntries(STRING_FLAGS.map((n) => [n, { type: 'string' as const }])), unbiased: { type: 'boolean' as const } },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const flag = (n: (typeof STRING_FLAGS)[number]) => values[n] as string | undefined;
  for (const required of ['model', 'input', 'output'] as const) if (!flag(required)) throw new UsageError(`--${required} is required`);
  const methods = (flag('method') ?? 'gradient').split(',').map((m) => oneOf('method', m.trim(), METHODS) as MethodName);
  const method = methods[0] as MethodName;
  for (const f of ['model', 'input'] as const) if (!existsSync(flag(f) as string)) throw new UsageError(`${f} file ${flag(f)} does not exist`);

  const positiveInt = (n: number) => Number.isInteger(n) && n > 0;
  const baselineFlag = flag('baseline');
  const params: MethodParams = {
    method,
    base: oneOf('base', flag('base'), BASE_METHODS),
    samples: numberFlag('samples', flag('samples'), positiveInt, 'a positive integer'),
    noise: numberFlag('noise', flag('noise'), (n) => n >= 0, 'a non-negative number'),
    sigma: numberFlag('sigma', flag('sigma'), (n) => n >= 0, 'a non-negative number'),
    seed: numberFlag('seed', flag('seed'), (n) => Number.isInteger(n) && n >= 0 && n < 2 ** 32, 'an integer in 0..2^32-1'),
    steps: numberFlag('steps', flag('steps'), positiveInt, 'a positive integer'),
    rule: oneOf('rule', flag('rule'), IG_RULES),
    baseline:
      baselineFlag === undefined
        ? undefined
        : (BASELINES as readonly string[]).includes(baselineFlag)
          ? (baselineFlag as MethodParams['baseline'])
          : npyTensor(baselineFlag, '--baseline'),
    unbiased: values['unbiased'] === true ? true : undefined,
    layer: flag('layer'),
    relu: flag('relu') === undefined ? undefined : flag('relu') !== 'false',
    confidence: numberFlag('confidence', flag('confidence'), (n) => n > 0 && n < 1, 'a number in (0, 1)'),
    preset: oneOf('preset', flag('preset'), PRESETS),
  };
  const targets = parseTargets(flag('target'));
  const threads = numberFlag('threads', flag('threads'), positiveInt, 'a positive integer');

  const output = flag('output') as string;
  const png = output.toLowerCase().endsWith('.png');
  if (!png && !output.toLowerCase().endsWith('.npy')) throw new UsageError(`--output must end in .npy (raw attribution) or .png (rendered); got ${output}`);
  const sweeping = flag('sweep-noise') !== undefined || flag('sweep-samples') !== undefined;
  if ((methods.length > 1 || sweeping) && !png) throw new UsageError('comparisons (several --method) and sweeps render a grid: use a .png --output');

  const t0 = performance.now();
  const inputPath = flag('input') as string;
  const modelPath = flag('model') as string;
  const isImage = !inputPath.toLowerCase().endsWith('.npy');
  const image = isImage ? await imageInput(inputPath, findManifest(modelPath, flag('manifest'))) : undefined;
  const x = image?.x ?? npyTensor(inputPath, '--input');
  // The input's own shape (with its batch) sizes the model's symbolic dimensions ([N,3,H,W]).
  const inputShape = x.dims;
  const ctx = await openModelContext(modelPath, {
    threads,
    inputShape,
    ...(image ? { pixelRange: pixelRange(image.manifest), input: image.manifest.input.name, layout: image.manifest.input.layout } : {}),
  });
  const render = Object.fromEntries(RENDER_FLAGS.map((f) => [f, flag(f)]));
  try {
    const expected = ctx.sampleShape;
    if (x.dims.length !== expected.length + 1 || expected.some((d, i) => x.dims[i + 1] !== d)) {
      throw new UsageError(`input has shape [${x.dims.join(',')}], the model expects [N,${expected.join(',')}]`);
    }
    const t1 = performance.now();
    if (methods.length > 1 || sweeping) {
      if (!image) throw new UsageError('comparison and sweep grids need an image --input');
      const grid = sweeping
        ? await sweepGrid(ctx, image, params, targets, flag('sweep-noise'), flag('sweep-samples'), render)
        : await comparisonGrid(ctx, image, methods, params, targets, render);
      writeOutput(output, grid);
      process.stdout.write(
        `${JSON.stringify({ methods, output, timings_ms: { prepare: Math.round(t1 - t0), compute: Math.round(performance.now() - t1) } })}\n`,
      );
      return 0;
    }
    const result = await explain(ctx, { x, params, targets });
    if (png) writeOutput(output, (await renderPng(result.attribution, methodKind(result.params.method, result.params.base), image, render)).png);
    else writeOutput(output, encodeNpy({ data: result.attribution.data, shape: result.attribution.dims }));
    const { seed, samples, steps, rule, base } = result.params;
    const report = {
      method,
      params: { seed, samples, steps, rule, base, sigma: result.sigma, layer: result.layer },
      targets: result.targets,
      top5: topK(result.logits, 5),
      shape: result.attribution.dims,
      ...(result.completenessGap ? { completeness_gap: result.completenessGap } : {}),
      timings_ms: { prepare: Math.round(t1 - t0), compute: Math.round(result.timings.computeMs) },
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  } finally {
    await ctx.close();
  }
}

async function comparisonGrid(
  ctx: OwnedContext,
  image: ImageInput,
  methods: MethodName[],
  params: MethodParams,
  targets: number[] | undefined,
  render: RenderParams,
): Promise<Uint8Array> {
  const panels = [];
  for (const method of methods) {
    const r = await explain(ctx, { x: image.x, params: { ...params, method }, targets });
    const { png, legend } = await renderPng(r.attribution, methodKind(method, r.params.base), image, render);
    panels.push({ title: method, png, legend });
  }
  return renderComparisonGrid(image.image, panels);
}

/** Rows: noise levels; columns: sample counts (SmoothGrad literature's tuning grid). */
async function sweepGrid(
  ctx: OwnedContext,
  image: ImageInput,
  params: MethodParams,
  targets: number[] | undefined,
  noiseText: string | undefined,
  samplesText: string | undefined,
  render: RenderParams,
): Promise<Uint8Array> {
  const list = (text: string | undefined, fallback: number[], name: string) =>
    text === undefined ? fallback : text.split(',').map((v) => numberFlag(name, v, (n) => n > 0, 'a comma-separated list of positive numbers') as number);
  const noises = list(noiseText, [0.05, 0.1, 0.2], 'sweep-noise');
  const counts = list(samplesText, [5, 10, 25, 50], 'sweep-samples');
  const method = NOISY.has(params.method) ? params.method : 'smoothgrad';
  const cells: Uint8Array[][] = [];
  const legends: Legend[][] = [];
  for (const noise of noises) {
    const row: Uint8Array[] = [];
    const rowLegends: Legend[] = [];
    for (const samples of counts) {
      const r = await explain(ctx, { x: image.x, params: { ...params, method, noise, samples, sigma: undefined }, targets });
      const { png, legend } = await renderPng(r.attribution, methodKind(method, r.params.base), image, render);
      row.push(png);
      rowLegends.push(legend);
    }
    cells.push(row);
    legends.push(rowLegends);
  }
  return renderSweepGrid({ rowLabels: noises.map((n) => `noise ${n}`), columnLabels: counts.map((n) => `n = ${n}`), cells, legends, corner: method });
}

function npyTensor(path: string, what: string): { data: Float32Array; dims: number[] } {
  if (!existsSync(path)) throw new UsageError(`${what} file ${path} does not exist`);
  const a = decodeNpy(readFileSync(path));
  return { data: a.data, dims: a.shape };
}
