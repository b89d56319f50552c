// The gradient self-check: at random points x, the compiled gradient's directional derivatives
// ⟨∇f(x), v⟩ against finite differences of the forward model — central (f(x+hv) − f(x−hv)) / 2h
// and one-sided — for f the target logit (the argmax at x). It runs what the service runs
// (`explain` with the gradient method, the forward pass the methods use), through the model
// context's sessions: this module never touches a runtime itself.
//
// Two kinds of direction, because float32 differences of a ReLU network cannot resolve everything:
// - along ∇f itself, ⟨∇f, v⟩ = ‖∇f‖ is a sum without cancellation, so the differences are precise
//   (1e-4..1e-3): any error in the gradient's size or in its component along itself shows;
// - random directions see every component, but ⟨∇f, v⟩ is a sum of terms of random sign, and the
//   units whose ReLU/MaxPool kinks a step crosses spoil it by about the square root of their
//   share: 1e-3..1e-1 on random-weight ReLU nets, while errors of the gradient's direction (a
//   missing term, a wrong sign, a transposed kernel) read as O(1). The directions are smooth
//   (coarse noise upsampled), so each term sums ∇f over a region: per-pixel noise directions at
//   224×224 cancel so much that float32 cannot resolve them (ResNet-18: 0.28 against 0.03).
import { explain, logitsOf } from '../methods/explain.js';
import { type ModelContext, channelsLast } from '../methods/context.js';
import { Rng } from '../methods/rng.js';
import { type Tensor } from '../methods/runner.js';
import { argmax } from '../methods/targets.js';
import { withoutRounding } from './rounding-free.js';

/**
 * Steps as the RMS change per input element (so they mean the same at 32×32 and 224×224). Float32
 * differences are limited by rounding at small steps and by crossing kinks at large ones.
 */
export const STEPS = [3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5] as const;

/**
 * Steps along the gradient: f changes fastest there and every unit moves at once, so kinks come
 * sooner, while the signal stays far above rounding down to steps below float32's resolution of x
 * (the analytic side uses the rounded steps, so a step that moves x by one ulp is still exact).
 */
export const GRADIENT_STEPS = [1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6, 3e-7] as const;

/** Random directions per point (besides the gradient's own). */
export const DIRECTIONS = 3;

/**
 * Pass thresholds on the relative errors (see the head of this file). Measured on the 30
 * torchvision-family test fixtures (random weights, 32×32, two seeds, four points each): along the
 * gradient at most 1.2e-2 (inception-v3; 6.4e-3 the next), random directions at most 0.20
 * (inception-v3; 0.07 mnasnet, 0.03 the next: BatchNorm, MaxPool and ReLU6 put many kinks near
 * random points of random-weight nets); torchvision ResNet-18/50 at 224×224: ≤ 1.8e-3 and ≤ 5.3e-2. A
 * gradient 10% too large reads 1e-1 on both.
 */
export const THRESHOLDS = { gradient: 3e-2, random: 0.35 } as const;

type Layout = 'NCHW' | 'NHWC';

export type Scheme = 'central' | 'forward' | 'backward';

export interface DirectionCheck {
  /** ⟨∇f(x), v⟩ per direction and the finite differences, at the chosen step and scheme. */
  analytic: number[];
  numeric: number[];
  /** ‖numeric − analytic‖ / ‖analytic‖ over the directions. */
  relErr: number;
  /** The chosen step (RMS per element) and difference scheme. */
  step: number;
  scheme: Scheme;
  /** Relative error of central differences at every step, in STEPS (or GRADIENT_STEPS) order. */
  byStep: number[];
}

export interface PointCheck {
  target: number;
  gradNorm: number;
  /**
   * The target logit does not change with the input here: over the largest step its linear change
   * is below float32's resolution of the logit. Nothing can be checked (and maps would be blank).
   */
  flat: boolean;
  alongGradient: DirectionCheck;
  random: DirectionCheck;
  passed: boolean;
  /** Checking the graph without rounding: ‖∇ of the model − ∇ here‖ / ‖∇ here‖ (the approximation's size at x). */
  versusModel?: number;
}

/** The checks at the random points, of one graph. */
export interface PointsCheck {
  points: PointCheck[];
  /** Worst errors over the points. */
  worst: { gradient: number; random: number };
  passed: boolean;
  thresholds: typeof THRESHOLDS;
}

export interface SelfCheckResult extends PointsCheck {
  /**
   * 'pass': the model's own check passed. 'approximate': it failed, the model's gradient makes a
   * stated approximation (QDQ: straight-through) that finite differences of its forward pass
   * cannot confirm, and the same graph without the rounding passes. 'fail': anything else.
   */
  verdict: 'pass' | 'approximate' | 'fail';
  /** Set when the model's own check failed on an approximate gradient: what could be checked instead, or why nothing. */
  withoutRounding?: { pairs: number; check: PointsCheck } | { unavailable: string };
}

export interface SelfCheckOptions {
  /** Model-space values of a black and a white pixel per channel: random points are random images. */
  pixelRange?: { black: number[]; white: number[] };
  points?: number;
  seed?: number;
  /** Forward samples per run; 1 for a model with a fixed batch of one. */
  batch?: number;
  /** The gradient's stated approximations (ModelFacts.approximations): a failed check then tries the graph without rounding. */
  approximations?: readonly string[];
}

function randomImage(rng: Rng, shape: number[], layout: Layout, options: SelfCheckOptions): Float32Array {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  const channels = layout === 'NHWC' ? (shape[shape.length - 1] as number) : (shape[0] as number);
  const plane = data.length / channels;
  for (let i = 0; i < data.length; i++) {
    const c = layout === 'NHWC' ? i % channels : Math.floor(i / plane);
    const lo = options.pixelRange?.black[c] ?? -1;
    const hi = options.pixelRange?.white[c] ?? 1;
    data[i] = lo + (hi - lo) * rng.uniform();
  }
  return data;
}

/**
 * A smooth random unit direction: normal values on a coarse grid (GRID×GRID per channel), upsampled
 * bilinearly to the input. Its product with ∇f sums the gradient over regions rather than single
 * pixels, so far fewer terms of random sign cancel than for a per-pixel direction at 224×224.
 */
function smoothDirection(rng: Rng, shape: number[], layout: Layout): Float32Array {
  const GRID = 6;
  const [C, H, W] = (layout === 'NHWC' ? [shape[2], shape[0], shape[1]] : shape) as [number, number, number];
  const coarse = Float32Array.from({ length: C * GRID * GRID }, () => rng.normal());
  const v = new Float32Array(C * H * W);
  const at = (c: number, y: number, x: number) => coarse[(c * GRID + y) * GRID + x] as number;
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) {
      const gy = H > 1 ? (y / (H - 1)) * (GRID - 1) : 0;
      const y0 = Math.min(Math.floor(gy), GRID - 2);
      const fy = gy - y0;
      for (let x = 0; x < W; x++) {
        const gx = W > 1 ? (x / (W - 1)) * (GRID - 1) : 0;
        const x0 = Math.min(Math.floor(gx), GRID - 2);
        const fx = gx - x0;
        const value = (at(c, y0, x0) * (1 - fx) + at(c, y0, x0 + 1) * fx) * (1 - fy) + (at(c, y0 + 1, x0) * (1 - fx) + at(c, y0 + 1, x0 + 1) * fx) * fy;
        v[layout === 'NHWC' ? (y * W + x) * C + c : (c * H + y) * W + x] = value;
      }
    }
  }
  const norm = Math.sqrt(dot(v, v));
  return v.map((e) => e / norm);
}

function unitDirection(rng: Rng, length: number): Float32Array {
  const v = new Float32Array(length);
  let norm = 0;
  for (let i = 0; i < length; i++) {
    v[i] = rng.normal();
    norm += (v[i] as number) ** 2;
  }
  norm = Math.sqrt(norm);
  for (let i = 0; i < length; i++) v[i] = (v[i] as number) / norm;
  return v;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

/** Target logits of every sample of a stacked batch, `batch` samples per run. */
async function targetLogits(ctx: ModelContext, samples: Float32Array[], target: number, batch: number): Promise<number[]> {
  const size = ctx.sampleShape.reduce((a, b) => a * b, 1);
  const values: number[] = [];
  for (let s0 = 0; s0 < samples.length; s0 += batch) {
    const chunk = samples.slice(s0, s0 + batch);
    const data = new Float32Array(chunk.length * size);
    chunk.forEach((sample, i) => data.set(sample, i * size));
    const logits = await logitsOf(ctx, { data, dims: [chunk.length, ...ctx.sampleShape] });
    const classes = logits.dims[1] as number;
    for (let i = 0; i < chunk.length; i++) values.push(logits.data[i * classes + target] as number);
  }
  return values;
}

/** ‖numeric − analytic‖ / ‖analytic‖ over the directions; Infinity for NaN (broken logits fail). */
function relativeError(numeric: number[], analytic: number[]): number {
  const diff = numeric.map((n, d) => n - (analytic[d] as number));
  const norm = Math.sqrt(dot(analytic, analytic));
  const err = norm > 0 ? Math.sqrt(dot(diff, diff)) / norm : Math.sqrt(dot(numeric, numeric)) > 0 ? Infinity : 0;
  return Number.isFinite(err) ? err : Infinity;
}

async function checkPoint(ctx: ModelContext, x: Float32Array, rng: Rng, batch: number, layout: Layout, model?: ModelContext): Promise<PointCheck> {
  const clean: Tensor = { data: x, dims: [1, ...ctx.sampleShape] };
  const target = argmax((await logitsOf(ctx, clean)).data);
  const gradientOf = async (c: ModelContext) => (await explain(c, { x: clean, params: { method: 'gradient' }, targets: [target] })).attribution.data;
  const grad = await gradientOf(ctx);
  const gradNorm = Math.sqrt(dot(grad, grad));
  const along = gradNorm > 0 ? grad.map((g) => g / gradNorm) : unitDirection(rng, x.length);
  const randomDirection = () => (ctx.sampleShape.length === 3 ? smoothDirection(rng, ctx.sampleShape, layout) : unitDirection(rng, x.length));
  const directions = [along, ...Array.from({ length: DIRECTIONS }, randomDirection)];
  // One stacked batch: x, then for each direction and step x + hv and x − hv. The analytic side
  // uses the steps as float32 rounded them (⟨∇f, x₊ − x⟩ and ⟨∇f, x − x₋⟩), so input rounding cancels.
  const samples: Float32Array[] = [x];
  const probes = directions.map((v, d) =>
    (d === 0 ? GRADIENT_STEPS : STEPS).map((step) => {
      const h = step * Math.sqrt(x.length);
      const plus = x.map((xi, i) => xi + h * (v[i] as number));
      const minus = x.map((xi, i) => xi - h * (v[i] as number));
      let up = 0;
      let down = 0;
      for (let i = 0; i < x.length; i++) {
        up += (grad[i] as number) * ((plus[i] as number) - (x[i] as number));
        down += (grad[i] as number) * ((x[i] as number) - (minus[i] as number));
      }
      samples.push(plus, minus);
      return { step, h, up, down, at: samples.length - 2 };
    }),
  );
  const f = await targetLogits(ctx, samples, target, batch);
  const f0 = f[0] as number;
  // Central differences, and the one-sided ones: a kink on one side of x spoils the central
  // difference but not the other side's, where a piecewise-linear f is exactly linear.
  const estimate = (scheme: Scheme, s: number, dirs: number[]) => {
    const numeric: number[] = [];
    const analytic: number[] = [];
    for (const d of dirs) {
      const { h, up, down, at } = probes[d]?.[s] as { h: number; up: number; down: number; at: number };
      const [fp, fm] = [f[at] as number, f[at + 1] as number];
      const [n, a] = scheme === 'central' ? [(fp - fm) / (2 * h), (up + down) / (2 * h)] : scheme === 'forward' ? [(fp - f0) / h, up / h] : [(f0 - fm) / h, down / h];
      numeric.push(n);
      analytic.push(a);
    }
    return { numeric, analytic, relErr: relativeError(numeric, analytic) };
  };
  // The step is chosen by the differences alone, never by their agreement with the gradient: the
  // scheme and step whose estimate agrees best with those at the next larger and smaller steps
  // (f locally linear, rounding not yet in charge). Three estimates must agree, so two noisy ones
  // cannot agree by chance; and choosing the step closest to the gradient would let a wrong
  // gradient pass on a lucky noisy estimate.
  const check = (dirs: number[]): DirectionCheck => {
    const steps = probes[dirs[0] as number]?.map((p) => p.step) ?? [];
    let best = { scheme: 'central' as Scheme, s: 0, ...estimate('central', 0, dirs) };
    let steadiest = Infinity;
    for (const scheme of ['central', 'forward', 'backward'] as const) {
      for (let s = 1; s + 1 < steps.length; s++) {
        const [larger, a, smaller] = [estimate(scheme, s - 1, dirs), estimate(scheme, s, dirs), estimate(scheme, s + 1, dirs)];
        const change = Math.max(relativeError(larger.numeric, a.numeric), relativeError(smaller.numeric, a.numeric));
        if (change < steadiest) [steadiest, best] = [change, { scheme, s, ...a }];
      }
    }
    const byStep = steps.map((_, s) => estimate('central', s, dirs).relErr);
    return { analytic: best.analytic, numeric: best.numeric, relErr: best.relErr, step: steps[best.s] as number, scheme: best.scheme, byStep };
  };
  const alongGradient = check([0]);
  const random = check(directions.slice(1).map((_, i) => i + 1));
  const flat = gradNorm * STEPS[0] * Math.sqrt(x.length) < 1e-6 * Math.max(1, Math.abs(f0));
  const passed = !flat && alongGradient.relErr <= THRESHOLDS.gradient && random.relErr <= THRESHOLDS.random;
  if (!model) return { target, gradNorm, flat, alongGradient, random, passed };
  const theirs = await gradientOf(model);
  const versusModel = relativeError(Array.from(theirs), Array.from(grad));
  return { target, gradNorm, flat, alongGradient, random, passed, versusModel };
}

/** The checks at `options.points` random images; `model`: also compare its gradient there. */
async function checkPoints(ctx: ModelContext, options: SelfCheckOptions, model?: ModelContext): Promise<PointsCheck> {
  const rng = new Rng(options.seed ?? 20251201);
  const points: PointCheck[] = [];
  const layout = channelsLast(ctx) ? 'NHWC' : 'NCHW';
  for (let p = 0; p < (options.points ?? 2); p++) {
    points.push(await checkPoint(ctx, randomImage(rng, ctx.sampleShape, layout, options), rng, options.batch ?? 8, layout, model));
  }
  const worst = { gradient: Math.max(...points.map((p) => p.alongGradient.relErr)), random: Math.max(...points.map((p) => p.random.relErr)) };
  return { points, worst, passed: points.every((p) => p.passed), thresholds: THRESHOLDS };
}

/**
 * The model's gradient against finite differences of its forward pass. Where that fails and the
 * gradient is a stated approximation, the same graph without rounding (rounding-free.ts) is
 * checked at the same random images: its sessions are the model context's own, under their own keys.
 */
export async function selfCheck(ctx: ModelContext, options: SelfCheckOptions = {}): Promise<SelfCheckResult> {
  const own = await checkPoints(ctx, options);
  if (own.passed || !options.approximations?.length) return { ...own, verdict: own.passed ? 'pass' : 'fail' };
  const free = withoutRounding(ctx.model, ctx.facts);
  if ('reason' in free) return { ...own, verdict: 'fail', withoutRounding: { unavailable: free.reason } };
  const smooth: ModelContext = { ...ctx, model: free.model, facts: free.facts, sessions: (key, build) => ctx.sessions(`rounding-free/${key}`, build) };
  const check = await checkPoints(smooth, options, ctx);
  return { ...own, verdict: check.passed ? 'approximate' : 'fail', withoutRounding: { pairs: free.pairs, check } };
}
