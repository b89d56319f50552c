// `saliency explain`: one explanation of a .npy batch (or an image with a manifest) to .npy/.png.
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { decodeNpy, encodeNpy } from '../imaging/npy.js';
import { type ExplainResult, explain } from '../methods/explain.js';
import { explainTargets } from '../methods/multi-target.js';
import { type Tensor } from '../methods/runner.js';
import { METRIC_NAMES, type MetricName, type MetricsRequest, type QualityMetrics, evaluateMetrics } from '../metrics/evaluate.js';
import { IMPUTATIONS } from '../metrics/pixel-flipping.js';
import { type Legend, presetScaling, type RenderParams, renderComparisonGrid, renderSweepGrid } from '../imaging/index.js';
import {
  BASE_METHODS,
  BASELINES,
  METHOD_BASES,
  baseRefusal,
  METHODS,
  type MethodName,
  type MethodParams,
  NOISY_METHODS as NOISY,
  PRESETS,
  methodKind,
} from '../methods/params.js';
import { pixelRange } from '../worker/manifest-mapping.js';
import { type ImageInput, RENDER_FLAGS, findManifest, imageInput, renderPng } from './image-input.js';
import { IG_RULES } from '../methods/quadrature.js';
import { TargetError, type TargetSpec, classItems, parseTargetSpec, topK } from '../methods/targets.js';
import { type OwnedContext, openModelContext } from '../runtime/model-context.js';
import { UsageError, writeOutput } from './flags.js';

const STRING_FLAGS = [
  'model',
  'input',
  'manifest',
  'method',
  'target',
  'targets',
  'metrics',
  'flip-steps',
  'imputation',
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
  'models',
  'weight-noise',
  'head',
  'max-samples',
  'tolerance',
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

/** A class given on the command line: its index, or a label of the manifest's labels file. */
function classResolver(labels: string[] | undefined): (item: unknown) => number {
  return (item) => {
    const text = String(item);
    if (/^\d+$/.test(text)) return Number(text);
    const index = labels?.indexOf(text) ?? -1;
    if (index < 0)
      throw new UsageError(`'${text}' is not a class index${labels ? ' or a label of the manifest' : ' (labels need a manifest with a labels file)'}`);
    return index;
  };
}

/** --target: one class for every sample, or one per sample; the items as --targets reads them. */
function parseTarget(text: string | undefined, resolve: (item: unknown) => number): number[] | undefined {
  return text === undefined ? undefined : classItems(text).map(resolve);
}

/** --targets: several classes of one image, in the API's grammar (a list, or top-k). */
function parseTargets(text: string | undefined, resolve: (item: unknown) => number): TargetSpec | undefined {
  if (text === undefined) return undefined;
  try {
    return parseTargetSpec(text, resolve);
  } catch (err) {
    if (err instanceof TargetError) throw new UsageError(`--targets: ${err.message}`);
    throw err;
  }
}

/** --metrics a,b with pixel flipping's --flip-steps and --imputation. */
function parseMetrics(flag: (name: 'metrics' | 'flip-steps' | 'imputation') => string | undefined): MetricsRequest | undefined {
  const text = flag('metrics');
  if (text === undefined) {
    if (flag('flip-steps') !== undefined || flag('imputation') !== undefined)
      throw new UsageError('--flip-steps and --imputation apply to --metrics pixel-flipping');
    return undefined;
  }
  const metrics = [...new Set(text.split(',').map((m) => oneOf('metrics', m.trim(), METRIC_NAMES) as MetricName))];
  return {
    metrics,
    steps: numberFlag('flip-steps', flag('flip-steps'), (n) => Number.isInteger(n) && n > 0, 'a positive integer'),
    imputation: oneOf('imputation', flag('imputation'), IMPUTATIONS),
  };
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
    samples: flag('samples') === 'auto' ? 'auto' : numberFlag('samples', flag('samples'), positiveInt, "a positive integer or 'auto'"),
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
    models: numberFlag('models', flag('models'), positiveInt, 'a positive integer'),
    weightNoise: numberFlag('weight-noise', flag('weight-noise'), (n) => n >= 0, 'a non-negative number'),
    head: flag('head') === undefined ? undefined : flag('head') !== 'false',
    maxSamples: numberFlag('max-samples', flag('max-samples'), positiveInt, 'a positive integer'),
    tolerance: numberFlag('tolerance', flag('tolerance'), (n) => n > 0, 'a positive number'),
  };
  if (flag('target') !== undefined && flag('targets') !== undefined)
    throw new UsageError('give --target (one class per sample) or --targets (several classes of one image), not both');
  const quality = parseMetrics(flag);
  const threads = numberFlag('threads', flag('threads'), positiveInt, 'a positive integer');

  const output = flag('output') as string;
  const png = output.toLowerCase().endsWith('.png');
  if (!png && !output.toLowerCase().endsWith('.npy')) throw new UsageError(`--output must end in .npy (raw attribution) or .png (rendered); got ${output}`);
  const sweeping = flag('sweep-noise') !== undefined || flag('sweep-samples') !== undefined;
  if ((methods.length > 1 || sweeping) && !png) throw new UsageError('comparisons (several --method) and sweeps render a grid: use a .png --output');
  if (sweeping && (flag('targets') !== undefined || quality)) throw new UsageError('a sweep grid takes neither --targets nor --metrics');

  const t0 = performance.now();
  const inputPath = flag('input') as string;
  const modelPath = flag('model') as string;
  const isImage = !inputPath.toLowerCase().endsWith('.npy');
  // The manifest: an image's preprocessing, and the labels --target and --targets may name.
  const found = isImage || flag('manifest') !== undefined ? findManifest(modelPath, flag('manifest')) : undefined;
  const image = isImage && found ? await imageInput(inputPath, found.manifest) : undefined;
  const x = image?.x ?? npyTensor(inputPath, '--input');
  const resolve = classResolver(found?.labels);
  const targets = parseTarget(flag('target'), resolve);
  const spec = parseTargets(flag('targets'), resolve);
  if (spec && x.dims[0] !== 1) throw new UsageError(`--targets explains one image; the input is a batch of ${x.dims[0]}`);
  // The input's own shape (with its batch) sizes the model's symbolic dimensions ([N,3,H,W]).
  const inputShape = x.dims;
  const ctx = await openModelContext(modelPath, {
    threads,
    inputShape,
    ...(image ? { pixelRange: pixelRange(image.manifest), input: image.manifest.input.name, layout: image.manifest.input.layout } : {}),
  });
  // Under a preset, .png outputs are drawn the way that library's visualiser draws them, as the API does.
  const render = { ...Object.fromEntries(RENDER_FLAGS.map((f) => [f, flag(f)])), scaling: flag('scaling') ?? presetScaling(params.preset) };
  try {
    const expected = ctx.sampleShape;
    if (x.dims.length !== expected.length + 1 || expected.some((d, i) => x.dims[i + 1] !== d)) {
      throw new UsageError(`input has shape [${x.dims.join(',')}], the model expects [N,${expected.join(',')}]`);
    }
    const t1 = performance.now();
    const run = (method: MethodName) => {
      const p = paramsFor(params, method, methods.length > 1);
      return spec ? explainTargets(ctx, { x, params: p, spec }) : explain(ctx, { x, params: p, targets });
    };
    const measure = async (method: MethodName, r: ExplainResult) =>
      quality ? await evaluateMetrics(ctx, x, paramsFor(params, method, methods.length > 1), r, quality) : undefined;
    if (methods.length > 1 || sweeping || (spec && png)) {
      if (!image) throw new UsageError('comparison, several-target and sweep grids need an image --input');
      const results: ExplainResult[] = [];
      if (!sweeping) for (const m of methods) results.push(await run(m));
      const grid = sweeping
        ? await sweepGrid(ctx, image, params, targets, flag('sweep-noise'), flag('sweep-samples'), render)
        : await comparisonGrid(image, methods, results, found?.labels, render);
      writeOutput(output, grid);
      const metrics: (QualityMetrics[] | undefined)[] = [];
      if (quality) for (const [i, m] of methods.entries()) metrics.push(await measure(m, results[i] as ExplainResult));
      process.stdout.write(
        `${JSON.stringify({
          methods,
          output,
          ...(results[0] ? { targets: results[0].targets } : {}),
          ...(quality ? { metrics: methods.length === 1 ? metrics[0] : Object.fromEntries(methods.map((m, i) => [m, metrics[i]])) } : {}),
          timings_ms: { prepare: Math.round(t1 - t0), compute: Math.round(performance.now() - t1) },
        })}\n`,
      );
      return 0;
    }
    const result = await run(method);
    const outputs = spec ? result.targets.map((c) => output.replace(/\.npy$/i, `-${c}.npy`)) : [output];
    if (png) writeOutput(output, (await renderPng(result.attribution, methodKind(result.params.method, result.params.base), image, render)).png);
    else if (spec) maps(result.attribution).forEach((map, k) => writeOutput(outputs[k] as string, encodeNpy({ data: map.data, shape: map.dims })));
    else writeOutput(output, encodeNpy({ data: result.attribution.data, shape: result.attribution.dims }));
    const metrics = await measure(method, result);
    const { seed, samples, steps, rule, base } = result.params;
    const report = {
      method,
      params: { seed, samples, steps, rule, base, sigma: result.sigma, layer: result.layer },
      targets: result.targets,
      top5: topK(spec ? { data: result.logits.data.subarray(0, result.logits.dims[1]), dims: [1, result.logits.dims[1] as number] } : result.logits, 5),
      shape: result.attribution.dims,
      ...(spec ? { outputs } : {}),
      ...(metrics ? { metrics } : {}),
      ...(result.completenessGap ? { completeness_gap: result.completenessGap } : {}),
      timings_ms: { prepare: Math.round(t1 - t0), compute: Math.round(result.timings.computeMs) },
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  } finally {
    await ctx.close();
  }
}

/**
 * The parameters for one method: --base where the method accepts it (METHOD_BASES, as the API
 * checks). One method refuses a base it cannot take; a comparison gives it only to those that
 * can, so `--method smoothgrad,noisegrad --base grad-cam` compares Smooth Grad-CAM with plain NoiseGrad.
 */
function paramsFor(params: MethodParams, method: MethodName, comparing: boolean): MethodParams {
  const refusal = baseRefusal(method, params.base);
  if (refusal && !comparing) throw new UsageError(`--method ${refusal.replace(' base', ' --base')}`);
  return { ...params, method, base: refusal ? undefined : params.base };
}

/** The maps of an attribution [K, …], one [1, …] each. */
function maps(a: Tensor): Tensor[] {
  const K = a.dims[0] as number;
  const size = a.data.length / K;
  return Array.from({ length: K }, (_, k) => ({ data: a.data.subarray(k * size, (k + 1) * size), dims: [1, ...a.dims.slice(1)] }));
}

/**
 * One row, the image then a panel per method, of one class; several targets: a panel per class
 * (one method), or methods down and classes across.
 */
async function comparisonGrid(
  image: ImageInput,
  methods: MethodName[],
  results: ExplainResult[],
  labels: string[] | undefined,
  render: RenderParams,
): Promise<Uint8Array> {
  const cells = await Promise.all(
    results.map((r, i) => Promise.all(maps(r.attribution).map((map) => renderPng(map, methodKind(methods[i] as MethodName, r.params.base), image, render)))),
  );
  // Smooth Grad-CAM and the other bases show in the titles: smoothgrad (grad-cam).
  const titles = results.map((r, i) =>
    r.params.base !== 'gradient' && METHOD_BASES[r.params.method] ? `${methods[i]} (${r.params.base})` : (methods[i] as string),
  );
  const classTitles = (results[0]?.targets ?? []).map((c) => (labels?.[c] ? `${labels[c]} (${c})` : `class ${c}`));
  const several = (cells[0]?.length ?? 1) > 1;
  if (!several)
    return renderComparisonGrid(
      image.image,
      cells.map((row, i) => ({ title: titles[i] as string, png: (row[0] as { png: Uint8Array }).png, legend: row[0]?.legend })),
    );
  if (methods.length === 1)
    return renderComparisonGrid(
      image.image,
      (cells[0] ?? []).map((c, k) => ({ title: classTitles[k] as string, png: c.png, legend: c.legend })),
      { originalTitle: titles[0] },
    );
  return renderSweepGrid({
    rowLabels: titles,
    columnLabels: classTitles,
    cells: cells.map((row) => row.map((c) => c.png)),
    legends: cells.map((row) => row.map((c) => c.legend)),
    corner: 'method ↓ class →',
  });
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
