// Helpers shared by the rule files.
import { attr, getInts } from '../../onnx/attributes.js';
import { type Dim, broadcastAxes } from '../../onnx/shapes.js';
import { type RuleContext } from '../rule.js';

/** Normalises a possibly negative axis against a rank. */
export function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/**
 * Sums a cotangent of shape `full` down to `part` (numpy broadcasting): static axes, keepdims,
 * then drops the leading axes `part` lacks.
 */
export function unbroadcast(ctx: RuleContext, grad: string, part: readonly Dim[], full: readonly Dim[]): string {
  const { axes, lead } = broadcastAxes(part, full);
  const summed = ctx.b.reduceSum(grad, axes, true);
  return ctx.b.squeeze(
    summed,
    Array.from({ length: lead }, (_, i) => i),
  );
}

/** Gives input i the cotangent `grad` (computed at the output's shape), unbroadcast to its shape. */
export function giveUnbroadcast(ctx: RuleContext, i: number, grad: string): void {
  ctx.give(i, unbroadcast(ctx, grad, ctx.shape(ctx.input(i)), ctx.shape(ctx.output(0))));
}

/**
 * `t` through an identity depthwise 1×1 Conv, for cotangents produced by ops that ONNX Runtime's
 * CPU layout optimiser (NCHWc) cannot run blocked (ConvTranspose, Expand). It only reorders the
 * inputs of convolutions and pools, so one plain-layout tensor entering a residual stream keeps
 * every later Sum/Mul of that stream unblocked, at two reorders per block; this Conv takes the
 * stream back at the cost of one. Measured on ResNet-50's gradient graph at batch 16: ReorderOutput
 * from 18% of the time to 3%. Only for channel counts the optimiser can block (multiples of 8).
 */
export function intoBlockedLayout(ctx: RuleContext, t: string, shape: readonly Dim[]): string {
  const C = shape[1];
  if (shape.length !== 4 || typeof C !== 'number' || C % 8 !== 0) return t;
  return depthwiseScale(ctx, t, C, 1);
}

/** `t` [N, C, H, W] times `factor`, as a depthwise 1×1 Conv: an op ONNX Runtime runs blocked. */
export function depthwiseScale(ctx: RuleContext, t: string, channels: number, factor: number): string {
  const weights = ctx.b.floats(new Float32Array(channels).fill(factor), [channels, 1, 1, 1]);
  return ctx.b.op('Conv', [t, weights], { group: attr.int(channels), kernel_shape: attr.ints([1, 1]) });
}

/** A float mask (1 where `cond` holds) from a boolean tensor. */
export function floatMask(ctx: RuleContext, cond: string): string {
  return ctx.b.toFloat(cond);
}

/** Both operands depend on the explained input (a product of two activations). */
export function bothActive(ctx: RuleContext): boolean {
  return ctx.needs(0) && ctx.needs(1);
}

/**
 * Geometry of the ConvTranspose that scatters a pooled/convolved map of `out` positions back
 * onto `size` input positions: keeps the begin pad, and chooses the end pad and output padding
 * so the result has exactly `size` positions (windows hanging past the input are cropped).
 */
export function transposeGeometry(size: number, out: number, kernelExtent: number, stride: number, padBegin: number) {
  const overhang = stride * (out - 1) + kernelExtent - padBegin - size;
  return overhang >= 0 ? { padEnd: overhang, outputPadding: 0 } : { padEnd: 0, outputPadding: -overhang };
}

/** Static spatial dims of a tensor (all but the first two), failing clearly when symbolic. */
export function spatialDims(ctx: RuleContext, tensor: string): number[] {
  const dims = ctx.shape(tensor).slice(2);
  if (dims.some((d) => typeof d !== 'number')) ctx.fail(`spatial dimensions of ${tensor} must be static`);
  return dims as number[];
}

/**
 * The window of a convolution or pooling node, parsed once: static input/output sizes, the
 * kernel (from `kernel_shape`, else `kernelFallback`, e.g. the weights' spatial dims), strides,
 * dilations, each axis's effective extent (k − 1)·d + 1, and explicit pads (auto_pad resolved).
 */
export interface WindowGeometry {
  inSizes: number[];
  outSizes: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  extents: number[];
  /** [begin…, end…] per spatial axis. */
  pads: number[];
}

export function windowGeometry(ctx: RuleContext, kernelFallback?: () => number[]): WindowGeometry {
  const inSizes = spatialDims(ctx, ctx.input(0));
  const outSizes = spatialDims(ctx, ctx.output(0));
  const kernel = getInts(ctx.attrs, 'kernel_shape') ?? kernelFallback?.() ?? ctx.fail('kernel_shape is required');
  const strides = getInts(ctx.attrs, 'strides') ?? kernel.map(() => 1);
  const dilations = getInts(ctx.attrs, 'dilations') ?? kernel.map(() => 1);
  const extents = kernel.map((k, i) => (k - 1) * (dilations[i] as number) + 1);
  return { inSizes, outSizes, kernel, strides, dilations, extents, pads: resolvePads(ctx, inSizes, outSizes, extents, strides) };
}

/** Resolves a pooling/convolution's explicit pads from `auto_pad` and the static sizes. */
export function resolvePads(
  ctx: RuleContext,
  inSizes: readonly number[],
  outSizes: readonly number[],
  kernelExtents: readonly number[],
  strides: readonly number[],
): number[] {
  const rank = inSizes.length;
  const autoPad = ctx.attrs['auto_pad']?.s ? new TextDecoder().decode(ctx.attrs['auto_pad'].s) : 'NOTSET';
  if (autoPad === 'NOTSET') {
    const pads = (ctx.attrs['pads']?.ints ?? []).map(Number);
    return pads.length === 2 * rank ? pads : new Array<number>(2 * rank).fill(0);
  }
  if (autoPad === 'VALID') return new Array<number>(2 * rank).fill(0);
  const begins: number[] = [];
  const ends: number[] = [];
  for (let i = 0; i < rank; i++) {
    const total = Math.max(0, ((outSizes[i] as number) - 1) * (strides[i] as number) + (kernelExtents[i] as number) - (inSizes[i] as number));
    const small = Math.floor(total / 2);
    const begin = autoPad === 'SAME_LOWER' ? total - small : small;
    begins.push(begin);
    ends.push(total - begin);
  }
  return [...begins, ...ends];
}
