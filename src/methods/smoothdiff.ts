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
import { pruneGraph, shapesFromFacts } from '../onnx/prune.js';
import { type Dim, batchMultiple, perSampleElements, product } from '../onnx/shapes.js';
import { type ModelContext, type Progress, activationSizes, compileFor } from './context.js';
import { checkNoise, imageRng, imageSigmas, noiseSlice } from './noise.js';
import { type ResolvedParams } from './params.js';
import { type Tensor, concat } from './runner.js';
import { oneHotSeed } from './targets.js';

const EXPOSE = { derivatives: { mode: 'expose' as const } };
const INJECT = { derivatives: { mode: 'inject' as const } };
const IMAGE = 'smoothdiff/image';
const NOISE = 'smoothdiff/noise';
const WEIGHTS = 'smoothdiff/weights';
const sumName = (d: DerivativeTensor) => `smoothdiff/sum/${d.name}`;
const statName = (d: DerivativeTensor) => `smoothdiff/sum-out/${d.name}`;

export class SmoothDiffError extends Error {
  override name = 'SmoothDiffError';
}

/** Elements per explained image of a derivative tensor whose axis 0 is a multiple of the batch. */
function perImageElements(d: DerivativeTensor): number {
  const [lead, ...rest] = d.shape;
  if (typeof lead !== 'string' || rest.some((r) => typeof r !== 'number')) {
    throw new SmoothDiffError(
      `local derivative of ${d.opType} node ${d.node} has shape [${d.shape.join(',')}]: SmoothDiff needs the batch on axis 0 and static other axes`,
    );
  }
  return perSampleElements(d.shape) as number;
}

/**
 * Statistics graph for one image: image [1,…], its noise [S,…], a weight per copy [1, S] and the
 * running weighted sums [1, E] in; the sums plus Σ_s weight_s · (local derivative of copy s) out.
 * With weights 1/n the sums end as the means, and nothing is added up in JavaScript.
 */
function statisticsGraph(ctx: ModelContext): Model {
  const compiled = compileFor(ctx, 'smoothdiff-expose', EXPOSE);
  const derivatives = compiled.derivatives;
  if (derivatives.length === 0) throw new SmoothDiffError('the model has no nonlinear node on the path from input to output');
  const pruned = pruneGraph(
    compiled.model.graph,
    derivatives.map((d) => d.name),
  );
  const b = new GraphBuilder(pruned, ctx.model.opset, 'smoothdiff');
  const points = { name: 'smoothdiff/points', opType: 'Add', domain: '', inputs: [IMAGE, NOISE], outputs: [ctx.input], attrs: {} };
  const copyRows = b.op('Concat', [b.slice(b.shapeOf(NOISE), [0], [1], [0]), b.ints([-1])], { axis: attr.int(0) });
  for (const d of derivatives) {
    if (d.oneHot && ctx.model.opset >= 16) {
      countClasses(b, d, d.oneHot);
      continue;
    }
    // Before opset 16 (no ScatterElements reduction) a one-hot derivative is expanded and summed.
    const dense = d.oneHot ? b.oneHot(d.name, d.oneHot.axis, d.oneHot.classes, d.shape.length) : d.name;
    // [1, S] × [S, E] + [1, E]: ONNX Runtime's GEMM is several times faster than its ReduceSum
    // over the copies, and adds the running sum as it writes.
    b.nodes.push({
      name: `${statName(d)}/sum`,
      opType: 'Gemm',
      domain: '',
      inputs: [WEIGHTS, b.reshape(dense, copyRows), sumName(d)],
      outputs: [statName(d)],
      attrs: {},
    });
  }
  const sums = (name: (d: DerivativeTensor) => string) => derivatives.map((d) => ({ name: name(d), elemType: 1, dims: [1, perImageElements(d)] }));
  return {
    ...ctx.model,
    // The compiled graph's border: its forward nodes up to the exposed derivatives are the classifier part.
    boundary: compiled.model.boundary,
    graph: {
      ...pruned,
      nodes: [points, ...pruned.nodes, ...b.nodes],
      inputs: [
        { name: IMAGE, elemType: 1, dims: [1, ...ctx.sampleShape] },
        { name: NOISE, elemType: 1, dims: ['S', ...ctx.sampleShape] },
        { name: WEIGHTS, elemType: 1, dims: [1, 'S'] },
        ...sums(sumName),
      ],
      outputs: sums(statName),
    },
  };
}

/**
 * Σ over copies of a one-hot derivative as weighted class counts: each copy's class index becomes
 * its flat position in the one-hot tensor, and ScatterElements adds the copy's weight there
 * (opset 16). One pass over the indices instead of building and summing `classes` times more floats.
 */
function countClasses(b: GraphBuilder, d: DerivativeTensor, { axis, classes }: { axis: number; classes: number }): void {
  // Elements per copy before the class axis, and after it.
  const [lead, ...rest] = d.shape as [Dim, ...number[]];
  const before = (batchMultiple(lead) as number) * product(rest.slice(0, axis - 1));
  const after = product(rest.slice(axis));
  // Flat position in one copy's one-hot tensor of element e of its index tensor, for class 0.
  const base = Array.from({ length: before * after }, (_, e) => Math.floor(e / after) * classes * after + (e % after));
  const indices = b.reshape(d.name, b.ints([-1, before * after]));
  const positions = b.reshape(b.add(b.mul(indices, b.ints([after], [])), b.ints(base, [before * after])), b.ints([1, -1]));
  const weights = b.reshape(b.op('Expand', [b.transpose(WEIGHTS, [1, 0]), b.shapeOf(indices)]), b.ints([1, -1]));
  b.nodes.push({
    name: `${statName(d)}/count`,
    opType: 'ScatterElements',
    domain: '',
    inputs: [sumName(d), positions, weights],
    outputs: [statName(d)],
    attrs: { axis: attr.int(1), reduction: attr.string('add') },
  });
}

/**
 * Noisy copies per statistics run under the memory budget. The run is a forward pass whose local
 * derivatives are summed as soon as they exist: the runtime frees each activation after its last
 * use, so a copy holds a few layers' tensors at a time, not all of them. Counted as 16 of its
 * largest activation (measured growth of peak memory per copy: ResNet-50 12 MB, 3.8 of its largest;
 * ViT-B/16 18 MB, 7.5 of its largest), plus the running sums, in and out, once per run.
 */
function copiesPerRun(ctx: ModelContext, derivatives: DerivativeTensor[]): number {
  const sums = 2 * 4 * derivatives.reduce((total, d) => total + perImageElements(d), 0);
  const perCopy = 16 * 4 * Math.max(...activationSizes(ctx.facts));
  return Math.max(1, Math.floor((ctx.budgetBytes - sums) / perCopy));
}

/**
 * The injected graph without its forward pass: with every local derivative given, the backward
 * reads the forward only for sizes (Expand and Reshape targets), which the facts know. On
 * ResNet-50 that is a forward pass less per explanation. The inputs stay as declared: the caller
 * feeds all of them.
 */
function backwardOnly(model: Model, ctx: ModelContext, gradient: string): Model {
  const graph = pruneGraph(shapesFromFacts(model.graph, ctx.facts, ctx.input, model.opset), [gradient]);
  return { ...model, graph: { ...graph, inputs: model.graph.inputs } };
}

export interface SmoothDiffOptions {
  noise?: Float32Array;
  progress?: Progress;
  /**
   * Every image of the batch is the same image (several targets of one image): the statistics do
   * not depend on the target, so they are collected once, from image 0's noise, and every class's
   * backward uses them. Each map then equals the single-target job's.
   */
  repeated?: boolean;
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
  // Its statistics pass runs the noisy copies as one batch, and its local derivatives are sized
  // by the batch: a graph that only runs at its own batch size cannot do either.
  if (ctx.fixedBatch !== undefined)
    throw new SmoothDiffError(
      `SmoothDiff needs a model that runs at any batch size; this one has its batch size ${ctx.fixedBatch} baked into its graph: re-export it with a dynamic batch axis (torch.onnx.export(..., dynamic_axes={input: {0: 'N'}}))`,
    );
  checkNoise(options.noise, B, n, ctx.sampleShape);
  const stats = await ctx.sessions('smoothdiff:stats', () => statisticsGraph(ctx));
  const derivatives = compileFor(ctx, 'smoothdiff-expose', EXPOSE).derivatives;
  const sizes = derivatives.map(perImageElements);
  const images = options.repeated ? 1 : B;
  const means = sizes.map((e) => new Float32Array(images * e));
  const sigma = imageSigmas(x, p);
  const total = images * n + 1;
  let done = 0;
  const chunk = copiesPerRun(ctx, derivatives);
  for (let b = 0; b < images; b++) {
    const rng = imageRng(p.seed, b);
    // Running Σ (1/n)·derivative for this image: zeros to start, then each run's output.
    let running = sizes.map((e, k) => (means[k] as Float32Array).subarray(b * e, (b + 1) * e));
    for (let s0 = 0; s0 < n; s0 += chunk) {
      const count = Math.min(chunk, n - s0);
      const noise = noiseSlice(options.noise, n, size, b, s0, count, () => rng.fillNormal(new Float32Array(count * size), sigma[b] as number));
      const feeds: Record<string, Tensor> = {
        [IMAGE]: { data: x.data.subarray(b * size, (b + 1) * size), dims: [1, ...ctx.sampleShape] },
        [NOISE]: { data: noise, dims: [count, ...ctx.sampleShape] },
        [WEIGHTS]: { data: new Float32Array(count).fill(1 / n), dims: [1, count] },
      };
      derivatives.forEach((d, k) => (feeds[sumName(d)] = { data: running[k] as Float32Array, dims: [1, sizes[k] as number] }));
      const out = await stats.run(feeds);
      running = derivatives.map((d) => (out[statName(d)] as Tensor).data);
      done += count;
      options.progress?.(done, total, 'statistics');
    }
    running.forEach((r, k) => (means[k] as Float32Array).set(r, b * (sizes[k] as number)));
  }

  const injected = compileFor(ctx, 'smoothdiff-inject', INJECT);
  const gradient = injected.gradient as string;
  const backward = await ctx.sessions('smoothdiff:backward', () => backwardOnly(injected.model, ctx, gradient));
  const feeds: Record<string, Tensor> = {
    [injected.input]: { data: x.data, dims: [...x.dims] },
    [injected.seed]: oneHotSeed(targets, classes),
  };
  derivatives.forEach((d, k) => {
    const [lead = '', ...rest] = d.shape;
    const mean = means[k] as Float32Array;
    feeds[d.name] = {
      data: images === B ? mean : concat(new Array<Float32Array>(B).fill(mean)),
      dims: [(batchMultiple(lead) as number) * B, ...(rest as number[])],
    };
  });
  const out = await backward.run(feeds, [gradient]);
  options.progress?.(total, total, 'backward');
  return { attribution: out[gradient] as Tensor, sigma, nodes: new Set(derivatives.map((d) => d.node)).size };
}
