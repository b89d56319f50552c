// Pooling. MaxPool's backward is exact for overlapping windows: the forward is re-run with its
// Indices output, each window's winner becomes a one-hot over the kernel offsets (one winner per
// window, the first in raster order, as in PyTorch), and a grouped ConvTranspose with one-hot
// kernels scatters g·mask back, summing where windows overlap. The mask is the local derivative
// SmoothDiff replaces by per-offset win fractions.
import { attr } from '../../onnx/attributes.js';
import { type GradRule, type RuleContext } from '../rule.js';
import { type WindowGeometry, floatMask, intoBlockedLayout, spatialDims, transposeGeometry, windowGeometry } from './common.js';

interface Window extends WindowGeometry {
  channels: number;
}

function windowOf(ctx: RuleContext, anyRank = false): Window {
  const geometry = windowGeometry(ctx);
  if (!anyRank && geometry.inSizes.length !== 2) ctx.fail('only 2-D pooling is supported');
  const channels = ctx.shape(ctx.input(0))[1];
  if (typeof channels !== 'number') ctx.fail('the channel dimension must be static');
  return { ...geometry, channels };
}

const product = (v: readonly number[]) => v.reduce((a, c) => a * c, 1);

/**
 * Grouped ConvTranspose that sums window contributions [N, C·G, O…] (G maps per channel)
 * onto [N, C, I…] with kernels `weights` of shape [C·G, 1, k…].
 */
function scatterWindows(ctx: RuleContext, contributions: string, win: Window, weights: Float32Array): string {
  const perChannel = weights.length / (win.channels * product(win.kernel));
  const geometry = win.inSizes.map((size, i) =>
    transposeGeometry(size, win.outSizes[i] as number, win.extents[i] as number, win.strides[i] as number, win.pads[i] as number),
  );
  const w = ctx.b.floats(weights, [win.channels * perChannel, 1, ...win.kernel]);
  return ctx.b.op('ConvTranspose', [contributions, w], {
    group: attr.int(win.channels),
    kernel_shape: attr.ints(win.kernel),
    strides: attr.ints(win.strides),
    dilations: attr.ints(win.dilations),
    pads: attr.ints([...win.pads.slice(0, win.kernel.length), ...geometry.map((g) => g.padEnd)]),
    output_padding: attr.ints(geometry.map((g) => g.outputPadding)),
  });
}

/** Kernels of the scatter: map c·K + k holds a one-hot at kernel offset k. */
function offsetKernels(channels: number, K: number): Float32Array {
  const weights = new Float32Array(channels * K * K);
  for (let m = 0; m < channels * K; m++) weights[m * K + (m % K)] = 1;
  return weights;
}

/** `make()` on the first call, the same tensor after (a rule's shared intermediate). */
function once(make: () => string): () => string {
  let value: string | undefined;
  return () => (value ??= make());
}

const maxPool: GradRule = {
  differentiable: [0],
  backward(ctx) {
    const b = ctx.b;
    const g = ctx.cotangent(0);
    const win = windowOf(ctx);
    const [H, W] = win.inSizes as [number, number];
    const [OH, OW] = win.outSizes as [number, number];
    const [kh, kw] = win.kernel as [number, number];
    const K = kh * kw;
    const { channels: C } = win;
    const shape = [ctx.shape(ctx.input(0))[0] as number | string, C, K, OH, OW];
    const winners = once(() => b.opN('MaxPool', [ctx.input(0)], 2, { ...ctx.attrs, storage_order: attr.int(0) })[1] as string);
    if (!ctx.derivativesObserved && ctx.opset >= 16) {
      // Without a policy watching the masks: add each window's cotangent at its winner's flat
      // index (ScatterElements' add reduction, opset 16), which sums overlaps exactly.
      const flat = b.ints([-1]);
      const zeros = b.reshape(b.zerosLike(ctx.input(0)), flat);
      const scattered = b.op('ScatterElements', [zeros, b.reshape(winners(), flat), b.reshape(g, flat)], { axis: attr.int(0), reduction: attr.string('add') });
      ctx.give(0, b.reshapeLike(scattered, ctx.input(0)));
      return;
    }
    // Top-left corner of output position o's window along an axis (negative inside the padding).
    const origin = (o: number, axis: 0 | 1) => o * (win.strides[axis] as number) - (win.pads[axis] as number);
    const rows = Array.from({ length: OH }, (_, i) => origin(i, 0));
    const cols = Array.from({ length: OW }, (_, j) => origin(j, 1));
    const [dh, dw] = win.dilations as [number, number];
    /** The winner's offset (i, j) in its window as i·kw + j. */
    const offsetIndex = once(() => {
      // The winner's position in its plane (Indices are flat over N·C·H·W).
      const position = b.op('Mod', [winners(), b.ints([H * W], [])]);
      if ((kw - 1) * dw < W) {
        // A window row fits in an image row: the position minus the window's top-left corner is
        // i·dh·W + j·dw with j·dw < W ≤ dh·W, so i comes by one division, then k = i·kw + j.
        const fromCorner = b.sub(
          position,
          b.ints(
            rows.flatMap((r) => cols.map((c) => r * W + c)),
            [OH, OW],
          ),
        );
        const i = b.op('Div', [fromCorner, b.ints([dh * W], [])]);
        if (dw === 1) return b.sub(fromCorner, b.mul(i, b.ints([dh * W - kw], [])));
        const jdw = b.sub(fromCorner, b.mul(i, b.ints([dh * W], [])));
        return b.add(b.mul(i, b.ints([kw], [])), b.op('Div', [jdw, b.ints([dw], [])]));
      }
      // A window wider than the image: decode the offset from row and column.
      const row = b.op('Div', [position, b.ints([W], [])]);
      const col = b.op('Mod', [position, b.ints([W], [])]);
      const i = b.op('Div', [b.sub(row, b.ints(rows, [OH, 1])), b.ints([dh], [])]);
      const j = b.op('Div', [b.sub(col, b.ints(cols, [1, OW])), b.ints([dw], [])]);
      return b.add(b.mul(i, b.ints([kw], [])), j);
    });
    // A statistics pass counts the winning offsets instead of summing K-fold one-hot masks.
    const masks = ctx.derivative('window_masks', shape, () => b.oneHot(offsetIndex(), 2, K, shape.length), { axis: 2, classes: K, index: offsetIndex });
    const perOffset = b.reshape(b.mul(masks, b.unsqueeze(g, [2])), b.ints([0, C * K, OH, OW]));
    ctx.give(0, scatterWindows(ctx, perOffset, win, offsetKernels(C, K)));
  },
};

const averagePool: GradRule = {
  differentiable: [0],
  backward(ctx) {
    const b = ctx.b;
    const g = ctx.cotangent(0);
    const win = windowOf(ctx, true);
    const K = product(win.kernel);
    // Each window's divisor, taken from the runtime itself so every count_include_pad/ceil_mode
    // convention matches: AveragePool(ones) = valid/divisor, and `valid` is counted here.
    const inside = (o: number, axis: number, size: number) => {
      let n = 0;
      for (let k = 0; k < (win.kernel[axis] as number); k++) {
        const p = o * (win.strides[axis] as number) - (win.pads[axis] as number) + k * (win.dilations[axis] as number);
        if (p >= 0 && p < size) n++;
      }
      return n;
    };
    // Valid positions per output window: the product over axes, in row-major order.
    let valid = [1];
    win.outSizes.forEach((out, axis) => {
      const counts = Array.from({ length: out }, (_, o) => inside(o, axis, win.inSizes[axis] as number));
      valid = valid.flatMap((v) => counts.map((c) => v * c));
    });
    const plane = b.floats(new Float32Array(product(win.inSizes)).fill(1), [1, 1, ...win.inSizes]);
    const meanOfOnes = b.op('AveragePool', [plane], ctx.attrs);
    const inverseDivisor = b.div(
      meanOfOnes,
      b.floats(
        Float32Array.from(valid, (v) => Math.max(1, v)),
        win.outSizes,
      ),
    );
    // Every position of a window receives the same share: a ones kernel per channel.
    const ones = new Float32Array(win.channels * K).fill(1);
    ctx.give(0, scatterWindows(ctx, b.mul(g, inverseDivisor), win, ones));
  },
};

export const poolingRules: Record<string, GradRule> = {
  MaxPool: maxPool,
  AveragePool: averagePool,

  GlobalAveragePool: {
    backward(ctx) {
      const x = ctx.input(0);
      const spatial = spatialDims(ctx, x).reduce((a, c) => a * c, 1);
      const scaled = ctx.b.mul(ctx.cotangent(0), ctx.b.scalar(1 / spatial));
      ctx.give(0, intoBlockedLayout(ctx, ctx.b.op('Expand', [scaled, ctx.b.shapeOf(x)]), ctx.shape(x)));
    },
  },

  // The first maximum in raster order takes the whole gradient (PyTorch's max_pool semantics).
  GlobalMaxPool: {
    backward(ctx) {
      const b = ctx.b;
      const x = ctx.input(0);
      const spatial = spatialDims(ctx, x).reduce((a, c) => a * c, 1);
      const flat = b.reshape(x, b.ints([0, 0, -1]));
      const shape = [...ctx.shape(x).slice(0, 2), spatial];
      const mask = ctx.derivative('argmax_mask', shape, () => {
        const winner = b.op('ArgMax', [flat], { axis: attr.int(2), keepdims: attr.int(1) });
        return floatMask(ctx, b.op('Equal', [winner, b.ints(Array.from({ length: spatial }, (_, i) => i))]));
      });
      const g = b.reshape(ctx.cotangent(0), b.ints([0, 0, 1]));
      ctx.give(0, b.reshapeLike(b.mul(mask, g), x));
    },
  },
};
