// One entry point for every method: choose targets on the clean input, run the method's plan,
// report what was used (seed, σ, layer, IG's completeness gap).
import { performance } from 'node:perf_hooks';
import { pruneGraph } from '../onnx/prune.js';
import { type ModelContext, type Progress, channelsLast, compileFor } from './context.js';
import { runGradCam } from './grad-cam.js';
import { reduceOutputChannels } from './output-channels.js';
import { isCamFamily, runCamFamily } from './grad-cam-plus.js';
import { runAdaptGrad } from './adapt-grad.js';
import { runNoiseGrad } from './noise-grad.js';
import { SINGLE_POINT, runGradientFamily } from './gradient-family.js';
import { type MethodParams, type ResolvedParams, resolveParams } from './params.js';
import { randomSeed } from './rng.js';
import { type GraphRunner, type Tensor } from './runner.js';
import { runSmoothDiff } from './smoothdiff.js';
import { classCount, givenTargets, resolveTargets } from './targets.js';

export interface ExplainRequest {
  x: Tensor;
  params: MethodParams;
  /** One target for all samples, or one per sample; default: argmax of the clean logits. */
  targets?: number[];
  /** Explicit noise block [B, samples, …] (tests compare against PyTorch fed the same noise); AdaptGrad: standard normals [B, samples − 1, …]. */
  noise?: Float32Array;
  /** NoiseGrad/FusionGrad: explicit multiplicative weight noise [models, Σ weight sizes] (tests). */
  weightNoise?: Float32Array;
  progress?: Progress;
  /** The batch is one image repeated once per target (multi-target.ts): target-free work is done once. */
  repeated?: boolean;
}

export interface ExplainResult {
  attribution: Tensor;
  params: ResolvedParams;
  targets: number[];
  logits: Tensor;
  sigma?: number[];
  layer?: string;
  /** Integrated Gradients: Σ attribution − (y_c(x) − y_c(x₀)) per image. */
  completenessGap?: number[];
  /** SmoothGrad family: noisy copies drawn per image (samples=auto may stop early). */
  samplesUsed?: number[];
  /** SmoothGrad family: ‖standard error of the mean map‖ / ‖mean map‖ reached per image. */
  relativeError?: number[];
  timings: { computeMs: number };
}

/** The forward model returning the explained output (the logits before a trailing Softmax). */
export async function forwardRunner(ctx: ModelContext): Promise<{ runner: GraphRunner; output: string }> {
  const output = compileFor(ctx, 'standard').explained;
  const runner = await ctx.sessions('forward', () => {
    const graph = pruneGraph(ctx.model.graph, [output]);
    return { ...ctx.model, graph, boundary: { inputs: graph.inputs, outputs: graph.outputs } };
  });
  return { runner, output };
}

export async function logitsOf(ctx: ModelContext, x: Tensor): Promise<Tensor> {
  const { runner, output } = await forwardRunner(ctx);
  const B = x.dims[0] as number;
  const step = ctx.fixedBatch ?? B;
  if (step >= B) return (await runner.run({ [ctx.input]: x }, [output]))[output] as Tensor;
  // A graph with its batch size baked in: one run per `step` images.
  const size = x.data.length / B;
  const parts: Tensor[] = [];
  for (let b = 0; b < B; b += step) {
    const chunk = { data: x.data.subarray(b * size, (b + step) * size), dims: [step, ...x.dims.slice(1)] };
    parts.push((await runner.run({ [ctx.input]: chunk }, [output]))[output] as Tensor);
  }
  const classes = parts[0]?.dims[1] as number;
  const data = new Float32Array(B * classes);
  parts.forEach((p, k) => data.set(p.data, k * step * classes));
  return { data, dims: [B, classes] };
}

export async function explain(ctx: ModelContext, request: ExplainRequest): Promise<ExplainResult> {
  const params = resolveParams(request.params, randomSeed());
  const result = await explainResolved(ctx, request, params);
  // A preset whose library reduces channels returns its [N,1,H,W] map (presets.ts). Where the
  // channels are is the model context's fact, the one Grad-CAM and the samplers read too.
  return params.output?.channels
    ? { ...result, attribution: reduceOutputChannels(result.attribution, params.output.channels, channelsLast(ctx) ? 'NHWC' : 'NCHW') }
    : result;
}

async function explainResolved(ctx: ModelContext, request: ExplainRequest, params: ResolvedParams): Promise<ExplainResult> {
  const t0 = performance.now();
  const { x } = request;
  // PAIR's magnitude=True SmoothGrad is a mean of squares: run the statistic the library takes.
  const run: ResolvedParams = params.output?.runAs ? { ...params, method: params.output.runAs } : params;
  const options = { noise: request.noise, progress: request.progress, repeated: request.repeated };
  const finish = (fields: Omit<ExplainResult, 'params' | 'timings'>): ExplainResult => ({ ...fields, params, timings: { computeMs: performance.now() - t0 } });

  if (SINGLE_POINT.has(params.method)) {
    // The clean image is the only point: the run that computes the gradient also gives the logits
    // and, without given targets, seeds each image with its own argmax. No forward pass first.
    const classes = classCount(ctx.facts.shapes.get(compileFor(ctx, 'standard').explained));
    const given = request.targets?.length ? givenTargets(x.dims[0] as number, classes, request.targets) : undefined;
    const r = await runGradientFamily(ctx, x, classes, given, run, options);
    const logits = r.logits as Tensor;
    return finish({ attribution: r.attribution, targets: given ?? resolveTargets(logits), logits });
  }
  const logits = await logitsOf(ctx, x);
  const targets = resolveTargets(logits, request.targets);
  const classes = logits.dims[1] as number;
  const done = (fields: Omit<ExplainResult, 'params' | 'targets' | 'logits' | 'timings'>): ExplainResult => finish({ ...fields, targets, logits });

  if (isCamFamily(params) || params.base === 'grad-cam') {
    const r = await runCamFamily(ctx, x, classes, targets, params, options);
    return done({ attribution: r.attribution, layer: r.layer, sigma: params.method === 'grad-cam-plus-plus' ? undefined : r.sigma });
  }
  switch (params.method) {
    case 'noisegrad':
    case 'fusiongrad': {
      const r = await runNoiseGrad(ctx, x, classes, targets, params, { ...options, weightNoise: request.weightNoise });
      return done({ attribution: r.attribution, ...(params.method === 'fusiongrad' ? { sigma: r.sigma } : {}) });
    }
    case 'adaptgrad': {
      const r = await runAdaptGrad(ctx, x, classes, targets, params, { normals: options.noise, progress: options.progress, repeated: options.repeated });
      return done({ attribution: r.attribution, sigma: r.sigma });
    }
    case 'smoothdiff': {
      const r = await runSmoothDiff(ctx, x, classes, targets, params, options);
      return done({ attribution: r.attribution, sigma: r.sigma });
    }
    case 'grad-cam': {
      const r = await runGradCam(ctx, x, classes, targets, params);
      return done({ attribution: r.attribution, layer: r.layer });
    }
    case 'guided-grad-cam': {
      const cam = await runGradCam(ctx, x, classes, targets, params);
      const guided = await runGradientFamily(ctx, x, classes, targets, { ...params, method: 'guided-backprop' }, options);
      return done({ attribution: multiplyByMap(guided.attribution, cam.attribution, channelsLast(ctx)), layer: cam.layer });
    }
    default: {
      const r = await runGradientFamily(ctx, x, classes, targets, run, options);
      const smoothing = params.method.startsWith('smooth') || params.method === 'vargrad';
      const result = { attribution: r.attribution, ...(smoothing ? { sigma: r.sigma, samplesUsed: r.samplesUsed, relativeError: r.relativeError } : {}) };
      if (params.method !== 'integrated-gradients' || !r.baseline) return done(result);
      return done({ ...result, completenessGap: await completenessGap(ctx, x, r.baseline, r.attribution, targets, logits) });
    }
  }
}

async function completenessGap(
  ctx: ModelContext,
  x: Tensor,
  baseline: Float32Array,
  attribution: Tensor,
  targets: number[],
  logits: Tensor,
): Promise<number[]> {
  const atBaseline = await logitsOf(ctx, { data: baseline, dims: [...x.dims] });
  const classes = logits.dims[1] as number;
  const B = x.dims[0] as number;
  const size = attribution.data.length / B;
  return targets.map((t, b) => {
    let total = 0;
    for (let i = b * size; i < (b + 1) * size; i++) total += attribution.data[i] as number;
    const difference = (logits.data[b * classes + t] as number) - (atBaseline.data[b * classes + t] as number);
    return total - difference;
  });
}

/** [B,C,H,W] (or [B,H,W,C]) ⊙ [B,1,H,W], broadcast over channels. */
function multiplyByMap(values: Tensor, map: Tensor, nhwc: boolean): Tensor {
  const B = values.dims[0] ?? 1;
  const C = (nhwc ? values.dims[values.dims.length - 1] : values.dims[1]) ?? 1;
  const plane = values.data.length / (B * C);
  const out = new Float32Array(values.data.length);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < plane; i++) {
        const at = nhwc ? (b * plane + i) * C + c : (b * C + c) * plane + i;
        out[at] = (values.data[at] as number) * (map.data[b * plane + i] as number);
      }
    }
  }
  return { data: out, dims: [...values.dims] };
}
