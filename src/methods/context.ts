// What a method needs to know about the model it explains, and how it gets runnable graphs.
import { type CompileResult, compileGradient, type BackwardPolicy } from '../gradgraph/index.js';
import { type Model } from '../onnx/ir.js';
import { BATCH, type Dim, type TensorFacts, perSampleElements } from '../onnx/shapes.js';
import { type GraphRunner } from './runner.js';

/**
 * Turns a graph into a runner, once per key (sessions are expensive: the runtime caches them).
 * `build` is only called on a cache miss.
 */
export type SessionFactory = (key: string, build: () => Model) => Promise<GraphRunner>;

export interface ModelContext {
  model: Model;
  facts: TensorFacts;
  input: string;
  /** Per-sample input shape, without the batch axis. */
  sampleShape: number[];
  sessions: SessionFactory;
  /** Memory budget for one graph run's activations, in bytes. */
  budgetBytes: number;
  /**
   * Set when the graph only runs at its own constant batch size (see runtime/shape-probe.ts's
   * symbolicBatch): every run then has exactly that many points. Only 1 is supported.
   */
  fixedBatch?: number;
  /** Per-channel model-space values of a black and a white pixel (from the manifest), if known. */
  pixelRange?: { black: number[]; white: number[] };
  /** Where the input's channel axis is; spatial dims are the other two (default NCHW). */
  layout?: 'NCHW' | 'NHWC';
  /** How the model was loaded (runtime/gradient-model.ts), for the model's info. */
  batching?: 'dynamic' | 'fixed';
  originalOpset?: number;
  convertedFrom?: number[];
  /** What the sessions compute the classifier in on this host (runtime/model-context.ts); default float32. */
  precision?: 'float16' | 'float32';
}

/** Whether the input is [H,W,C] per sample. */
export function channelsLast(ctx: Pick<ModelContext, 'sampleShape' | 'layout'>): boolean {
  const s = ctx.sampleShape;
  if (ctx.layout) return ctx.layout === 'NHWC';
  // Without a manifest (a bare file on the command line), a [H,W,C] shape with few channels is NHWC.
  return s.length === 3 && (s[2] as number) <= 4 && (s[0] as number) > 4;
}

/** [H, W] of the per-sample input: the last two dims (NCHW) or the first two (NHWC). */
export function spatialSize(ctx: Pick<ModelContext, 'sampleShape' | 'layout'>): [number, number] {
  return (channelsLast(ctx) ? ctx.sampleShape.slice(-3, -1) : ctx.sampleShape.slice(-2)) as [number, number];
}

export type Progress = (done: number, total: number, stage: string) => void;

export const DEFAULT_BUDGET_BYTES = 1 << 30;

/** Compiles with a policy, memoised per context and key (compiling is pure but not free). */
const compiled = new WeakMap<ModelContext, Map<string, CompileResult>>();
export function compileFor(ctx: ModelContext, key: string, policy?: BackwardPolicy): CompileResult {
  let cache = compiled.get(ctx);
  if (!cache) compiled.set(ctx, (cache = new Map()));
  let result = cache.get(key);
  if (!result) {
    result = compileGradient(ctx.model, { facts: ctx.facts, input: ctx.input, policy, float16: ctx.precision === 'float16' });
    cache.set(key, result);
  }
  return result;
}

/** Elements per input sample of each batch-dependent float tensor of the forward pass. */
export function activationSizes(facts: TensorFacts): number[] {
  const sizes: number[] = [];
  for (const [name, shape] of facts.shapes) {
    const type = facts.types.get(name);
    if (type !== undefined && type !== 1) continue;
    const elements = perSampleElements(shape);
    if (elements !== undefined) sizes.push(elements);
  }
  return sizes;
}

/**
 * Bytes one input sample costs in a gradient run: every activation of the forward pass, about
 * three times over (kept activations, cotangents, temporaries).
 */
export function bytesPerSample(facts: TensorFacts): number {
  return Math.max(1, 3 * 4 * activationSizes(facts).reduce((a, b) => a + b, 0));
}

/** Whether a probed leading dimension is the batch: 'N', or the fixed batch size of such a graph. */
export function isBatchDim(ctx: ModelContext, d: Dim | undefined): boolean {
  return d === BATCH || (ctx.fixedBatch !== undefined && d === ctx.fixedBatch);
}

export function pointsPerRun(ctx: ModelContext): number {
  if (ctx.fixedBatch !== undefined) return ctx.fixedBatch;
  return Math.max(1, Math.floor(ctx.budgetBytes / bytesPerSample(ctx.facts)));
}
