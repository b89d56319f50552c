// SmoothDiff (Hill et al., NeurIPS 2025): the product of averaged local Jacobians Ē_L⋯Ē_1
// instead of SmoothGrad's average of products. n noisy forward passes collect, per graph node,
// the mean local derivative (ReLU: fraction of copies with z > 0; MaxPool: per-window win
// fractions of each offset; smooth ops: mean φ'(z); products: mean of the other operand; dense
// ops: the mean input), then ONE backward pass at the clean input uses those means.
// Cost n·F + F + B; memory does not grow with n.
import { type DerivativeTensor } from '../gradgraph/index.js';
import { attr } from '../onnx/attributes.js';
import { GraphBuilder } from '../onnx/builder.js';
import { type Model } from '../onnx/ir.js';
import { pruneGraph } from '../onnx/prune.js';
import { batchMultiple } from '../onnx/shapes.js';
import { valueRange } from './baselines.js';
import { type ModelContext, type Progress, compileFor } from './context.js';
import { type ResolvedParams } from './params.js';
import { Rng } from './rng.js';
import { type Tensor } from './runner.js';
import { oneHotSeed } from './targets.js';

const EXPOSE = { derivatives: { mode: 'expose' as const } };
const INJECT = { derivatives: { mode: 'inject' as const } };
const IMAGES = 'smoothdiff/images';
const NOISE = 'smoothdiff/noise';
const statName = (d: DerivativeTensor) => `smoothdiff/sum/${d.name}`;

export class SmoothDiffError extends Error {
  override name = 'SmoothDiffError';
}

/** Elements per explained image of a derivative tensor whose axis 0 is a multiple of the batch. */
function perImageElements(d: DerivativeTensor): number {
  const [lead, ...rest] = d.shape;
  if (typeof lead !== 'string' || rest.some((r) => typeof r !== 'number')) {
    throw new SmoothDiffError(`local derivative of ${d.opType} node ${d.node} has shape [${d.shape.join(',')}]: SmoothDiff needs the batch on axis 0 and static other axes`);
  }
  return (batchMultiple(lead) as number) * (rest as number[]).reduce((a, b) => a * b, 1);
}

/** Statistics graph: images [B,…] and noise [B,S,…] in; Σ over S of every local derivative out. */
function statisticsGraph(ctx: ModelContext): Model {
  const compiled = compileFor(ctx, 'smoothdiff-expose', EXPOSE);
  const derivatives = compiled.derivatives;
  if (derivatives.length === 0) throw new SmoothDiffError('the model has no nonlinear node on the path from input to output');
  const pruned = pruneGraph(compiled.model.graph, derivatives.map((d) => d.name));
  const b = new GraphBuilder(pruned, ctx.model.opset, 'smoothdiff');
  const points = b.add(b.unsqueeze(IMAGES, [1]), NOISE);
  const pre = { name: 'smoothdiff/points', opType: 'Reshape', domain: '', inputs: [points, b.ints([-1, ...ctx.sampleShape])], outputs: [ctx.input], attrs: {} };
  const preNodes = [...b.nodes.splice(0), pre];
  const dimsBS = b.slice(b.shapeOf(NOISE), [0], [2], [0]);
  const perCopy = b.op('Concat', [dimsBS, b.ints([-1])], { axis: attr.int(0) });
  // Σ over the copies as a product with a row of ones [1, S]: ONNX Runtime's GEMM is several
  // times faster than its ReduceSum over a middle axis.
  const ones = b.unsqueeze(b.op('ConstantOfShape', [b.slice(b.shapeOf(NOISE), [1], [2], [0])], { value: { type: 4, t: { dims: [1], dataType: 1, floatData: [1] } } }), [0]);
  for (const d of derivatives) {
    // [1, S] × [B, S, E] → [B, 1, E], written straight to the output (a Squeeze would copy it).
    b.nodes.push({ name: `${statName(d)}/sum`, opType: 'MatMul', domain: '', inputs: [ones, b.reshape(d.name, perCopy)], outputs: [statName(d)], attrs: {} });
  }
  return {
    ...ctx.model,
    graph: {
      ...pruned,
      nodes: [...preNodes, ...pruned.nodes, ...b.nodes],
      inputs: [
        { name: IMAGES, elemType: 1, dims: ['B', ...ctx.sampleShape] },
        { name: NOISE, elemType: 1, dims: ['B', 'S', ...ctx.sampleShape] },
      ],
      outputs: derivatives.map((d) => ({ name: statName(d), elemType: 1, dims: ['B', 1, perImageElements(d)] })),
    },
  };
}

/**
 * Noisy copies per statistics run under the memory budget. A forward-only run keeps little of its
 * activations (the runtime reuses their buffers); what grows with the copies is every local
 * derivative, held about three times (computed, reordered for the sum, summed). Measured on
 * ResNet-50: ~35 MB of resident memory per extra copy for 9.0 M derivative elements per copy.
 * Fewer, larger runs also mean fewer sums to add up in JavaScript.
 */
function copiesPerRun(ctx: ModelContext, derivatives: DerivativeTensor[]): number {
  const elements = derivatives.reduce((total, d) => total + perImageElements(d), 0);
  return Math.max(1, Math.floor(ctx.budgetBytes / (3 * 4 * elements)));
}

export interface SmoothDiffOptions {
  noise?: Float32Array;
  progress?: Progress;
}

export async function runSmoothDiff(
  ctx: ModelContext,
  x: Tensor,
  classes: number,
  targets: number[],
  p: ResolvedParams,
  options: SmoothDiffOptions = {},
): Promise<{ attribution: Tensor; sigma: number[]; nodes: number }> {
  const B = x.dims[0] as number;
  const size = x.data.length / B;
  const n = p.samples;
  if (options.noise && options.noise.length !== B * n * size) throw new RangeError(`explicit noise must have shape [${B},${n},${ctx.sampleShape.join(',')}]`);
  const stats = await ctx.sessions('smoothdiff:stats', () => statisticsGraph(ctx));
  const derivatives = compileFor(ctx, 'smoothdiff-expose', EXPOSE).derivatives;
  const sums = derivatives.map((d) => new Float32Array(B * perImageElements(d)));
  const sigma = Array.from({ length: B }, (_, b) => {
    if (p.sigma !== undefined) return p.sigma;
    const [lo, hi] = valueRange(x.data.subarray(b * size, (b + 1) * size));
    return p.noise * (hi - lo);
  });
  const total = B * n + B;
  let done = 0;
  const chunk = copiesPerRun(ctx, derivatives);
  for (let b = 0; b < B; b++) {
    const rng = new Rng((p.seed ^ Math.imul(b + 1, 0x9e3779b1)) >>> 0);
    for (let s0 = 0; s0 < n; s0 += chunk) {
      const count = Math.min(chunk, n - s0);
      const noise = options.noise
        ? options.noise.subarray((b * n + s0) * size, (b * n + s0 + count) * size)
        : rng.fillNormal(new Float32Array(count * size), sigma[b] as number);
      const out = await stats.run({
        [IMAGES]: { data: x.data.subarray(b * size, (b + 1) * size), dims: [1, ...ctx.sampleShape] },
        [NOISE]: { data: noise, dims: [1, count, ...ctx.sampleShape] },
      });
      derivatives.forEach((d, k) => {
        const from = (out[statName(d)] as Tensor).data;
        const into = sums[k] as Float32Array;
        const offset = b * from.length;
        for (let i = 0; i < from.length; i++) into[offset + i] = (into[offset + i] as number) + (from[i] as number);
      });
      done += count;
      options.progress?.(done, total, 'statistics');
    }
  }

  const injected = compileFor(ctx, 'smoothdiff-inject', INJECT);
  const backward = await ctx.sessions('smoothdiff:backward', () => injected.model);
  const feeds: Record<string, Tensor> = {
    [injected.input]: { data: x.data, dims: [...x.dims] },
    [injected.seed]: oneHotSeed(targets, classes),
  };
  derivatives.forEach((d, k) => {
    const mean = sums[k] as Float32Array;
    for (let i = 0; i < mean.length; i++) mean[i] = (mean[i] as number) / n;
    const [lead = '', ...rest] = d.shape;
    feeds[d.name] = { data: mean, dims: [(batchMultiple(lead) as number) * B, ...(rest as number[])] };
  });
  const gradient = injected.gradient as string;
  const out = await backward.run(feeds, [gradient]);
  options.progress?.(total, total, 'backward');
  return { attribution: out[gradient] as Tensor, sigma, nodes: new Set(derivatives.map((d) => d.node)).size };
}
