// SmoothDiff against its own definition (docs/methods.md): counts/n at ReLUs, per-window win
// fractions at MaxPool (with planted ties), equality with SmoothGrad for one nonlinear layer,
// separate statistics per call site, and that it runs on every architecture.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { attr } from '../../src/onnx/attributes.js';
import { decodeNpy } from '../../src/imaging/npy.js';
import { type ModelContext, compileFor } from '../../src/methods/context.js';
import { type Model } from '../../src/onnx/ir.js';
import { explain } from '../../src/methods/explain.js';
import { contextForModel, openModelContext } from '../../src/runtime/model-context.js';
import { perSample } from '../helpers/compare.js';
import { FIXTURES } from '../helpers/paths.js';
import { graphModel, seededNormal } from '../helpers/tiny-graph.js';

const DIM = 6;
const CLASSES = 3;
const W = seededNormal(11, DIM * CLASSES);
const W1 = seededNormal(12, DIM * DIM);

test('ReLU: SmoothDiff passes back g·(fraction of copies with z > 0), strict at 0', async () => {
  // y = relu(x)·W: the gradient for target c is W[:, c] ⊙ p̂.
  const model = graphModel({
    x: [DIM],
    opset: 13,
    initializers: { w: { float: W, dims: [DIM, CLASSES] } },
    nodes: [
      { opType: 'Relu', inputs: ['x'], outputs: ['h'], attrs: {} },
      { opType: 'MatMul', inputs: ['h', 'w'], outputs: ['y'], attrs: {} },
    ],
  });
  const ctx = await contextForModel(model, { threads: 1 });
  try {
    const x = Float32Array.from([0.5, -0.5, 0, 1, -1, 0.25]);
    const n = 4;
    // Planted noise: element 2 sits at exactly 0 in copy 0 (strict > gives 0 there).
    const noise = new Float32Array(n * DIM);
    const offsets = [
      [0, 0, 0, -2, 2, -0.5],
      [-1, 1, 0.1, 0, 0, 0],
      [0.1, 0.2, -0.1, 0, 0.5, -0.3],
      [0, 0, 0.2, -1.5, 0, 0],
    ];
    offsets.forEach((row, k) => noise.set(row, k * DIM));
    const r = await explain(ctx, { x: { data: x, dims: [1, DIM] }, params: { method: 'smoothdiff', samples: n }, targets: [1], noise });
    for (let i = 0; i < DIM; i++) {
      const wins = offsets.filter((row) => (x[i] as number) + (row[i] as number) > 0).length;
      const expected = (W[i * CLASSES + 1] as number) * (wins / n);
      assert.ok(Math.abs((r.attribution.data[i] as number) - expected) < 1e-6, `element ${i}: ${r.attribution.data[i]} vs ${expected}`);
    }
  } finally {
    await ctx.close();
  }
});

interface PoolCase {
  what: string;
  opset: number;
  size: [number, number];
  kernel: [number, number];
  strides: [number, number];
  pads: [number, number, number, number];
  dilations: [number, number];
  /** Noisy copies (the image is zeros, so these are the copies' values). */
  copies: (h: number, w: number) => Float32Array[];
}

// All values equal in the first copy, two equal maxima in the second, integer levels after: ties
// everywhere, so "first maximum in raster order" is exercised.
const tiedCopies = (h: number, w: number) => [
  new Float32Array(h * w).fill(1),
  Float32Array.from({ length: h * w }, (_, i) => (i === 6 || i === 8 ? 5 : 0)),
  Float32Array.from({ length: h * w }, (_, i) => i % 7),
  Float32Array.from({ length: h * w }, (_, i) => (i * 5) % 3),
];

// Opset 16 and later count the winning offsets with ScatterElements (decoded from the winner's
// distance to its window corner, or from its row and column when a window is wider than the
// image); before, one-hot masks are summed.
const POOL_CASES: PoolCase[] = [
  { what: '3×3 stride 2, padded', opset: 13, size: [5, 5], kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], dilations: [1, 1], copies: tiedCopies },
  { what: '3×3 stride 2, padded', opset: 17, size: [5, 5], kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], dilations: [1, 1], copies: tiedCopies },
  {
    what: '2×3 dilated (2, 2), asymmetric pads',
    opset: 17,
    size: [6, 7],
    kernel: [2, 3],
    strides: [1, 2],
    pads: [0, 1, 1, 0],
    dilations: [2, 2],
    copies: tiedCopies,
  },
  {
    what: '2×3 dilated (1, 2), window wider than the image',
    opset: 17,
    size: [4, 3],
    kernel: [2, 3],
    strides: [1, 1],
    pads: [0, 1, 0, 1],
    dilations: [1, 2],
    copies: tiedCopies,
  },
];

for (const c of POOL_CASES) {
  test(`MaxPool ${c.what}, opset ${c.opset}: per-window win fractions, first maximum wins ties`, async () => {
    const [H, W] = c.size;
    const out = (axis: 0 | 1) =>
      Math.floor((c.size[axis] + (c.pads[axis] as number) + (c.pads[axis + 2] as number) - ((c.kernel[axis] - 1) * c.dilations[axis] + 1)) / c.strides[axis]) +
      1;
    const [OH, OW] = [out(0), out(1)];
    const fc = seededNormal(3, OH * OW * CLASSES);
    const model = graphModel({
      x: [1, H, W],
      opset: c.opset,
      initializers: { w: { float: fc, dims: [OH * OW, CLASSES] } },
      nodes: [
        {
          opType: 'MaxPool',
          inputs: ['x'],
          outputs: ['p'],
          attrs: { kernel_shape: attr.ints(c.kernel), strides: attr.ints(c.strides), pads: attr.ints(c.pads), dilations: attr.ints(c.dilations) },
        },
        { opType: 'Flatten', inputs: ['p'], outputs: ['f'], attrs: {} },
        { opType: 'MatMul', inputs: ['f', 'w'], outputs: ['y'], attrs: {} },
      ],
    });
    const ctx = await contextForModel(model, { threads: 1 });
    try {
      const copies = c.copies(H, W);
      const n = copies.length;
      const noise = new Float32Array(n * H * W);
      copies.forEach((copy, k) => noise.set(copy, k * H * W));
      const target = 2;
      const r = await explain(ctx, {
        x: { data: new Float32Array(H * W), dims: [1, 1, H, W] },
        params: { method: 'smoothdiff', samples: n },
        targets: [target],
        noise,
      });
      // Reference: per copy and window, the first maximum in raster order (padding never wins)
      // takes g_out[window]/n; overlapping windows add up.
      const expected = new Float64Array(H * W);
      for (const copy of copies) {
        for (let oy = 0; oy < OH; oy++) {
          for (let ox = 0; ox < OW; ox++) {
            let best = -1;
            for (let ky = 0; ky < c.kernel[0]; ky++) {
              for (let kx = 0; kx < c.kernel[1]; kx++) {
                const [y, x] = [oy * c.strides[0] - c.pads[0] + ky * c.dilations[0], ox * c.strides[1] - c.pads[1] + kx * c.dilations[1]];
                if (y < 0 || y >= H || x < 0 || x >= W) continue;
                if (best < 0 || (copy[y * W + x] as number) > (copy[best] as number)) best = y * W + x;
              }
            }
            expected[best] = (expected[best] as number) + (fc[(oy * OW + ox) * CLASSES + target] as number) / n;
          }
        }
      }
      expected.forEach((e, i) => assert.ok(Math.abs((r.attribution.data[i] as number) - e) < 1e-6, `position ${i}: ${r.attribution.data[i]} vs ${e}`));
    } finally {
      await ctx.close();
    }
  });
}

// One nonlinear layer: E over the same copies of W2·diag(φ'(z_k))·W1 is W2·diag(mean φ')·W1,
// so SmoothDiff equals SmoothGrad exactly when both see the same noise.
const ACTIVATIONS: [string, string, Record<string, ReturnType<typeof attr.float>>][] = [
  ['Relu', 'relu', {}],
  ['LeakyRelu', 'leaky relu', { alpha: attr.float(0.1) }],
  ['Sigmoid', 'sigmoid', {}],
  ['Tanh', 'tanh', {}],
  ['Erf', 'erf', {}],
  ['HardSigmoid', 'hard sigmoid', {}],
];
for (const [opType, what, attrs] of ACTIVATIONS) {
  test(`one ${what} layer: SmoothDiff equals SmoothGrad with the same noise`, async () => {
    const model = graphModel({
      x: [DIM],
      opset: 13,
      initializers: { w1: { float: W1, dims: [DIM, DIM] }, w: { float: W, dims: [DIM, CLASSES] } },
      nodes: [
        { opType: 'MatMul', inputs: ['x', 'w1'], outputs: ['z'], attrs: {} },
        { opType, inputs: ['z'], outputs: ['h'], attrs },
        { opType: 'MatMul', inputs: ['h', 'w'], outputs: ['y'], attrs: {} },
      ],
    });
    const ctx = await contextForModel(model, { threads: 1 });
    try {
      const n = 16;
      const x = { data: seededNormal(5, 2 * DIM), dims: [2, DIM] };
      const noise = seededNormal(6, 2 * n * DIM);
      const sd = await explain(ctx, { x, params: { method: 'smoothdiff', samples: n }, targets: [0, 2], noise });
      const sg = await explain(ctx, { x, params: { method: 'smoothgrad', samples: n }, targets: [0, 2], noise });
      perSample(sd.attribution.data, sg.attribution.data, 2).forEach(({ relErr }) => assert.ok(relErr < 1e-5, `relative error ${relErr}`));
    } finally {
      await ctx.close();
    }
  });
}

test('a ReLU module called twice per block keeps separate statistics per call site', async () => {
  const ctx = await openModelContext(join(FIXTURES, 'models', 'resnet-basic-op17.onnx'), { threads: 1 });
  try {
    const relus = ctx.model.graph.nodes.filter((n) => n.opType === 'Relu').map((n) => n.name);
    const stats = compileFor(ctx, 'smoothdiff-expose', { derivatives: { mode: 'expose' } }).derivatives;
    const withStats = new Set(stats.filter((d) => d.opType === 'Relu').map((d) => d.node));
    assert.ok(relus.length >= 4);
    assert.deepEqual([...withStats].sort(), [...relus].sort());
  } finally {
    await ctx.close();
  }
});

test('the backward graph with injected derivatives runs no forward pass (sizes come from the facts)', async () => {
  const ctx = await openModelContext(join(FIXTURES, 'models', 'resnet-basic-op17.onnx'), { threads: 1 });
  try {
    const built = new Map<string, Model>();
    const spy: ModelContext = {
      ...ctx,
      sessions: (key, build) =>
        ctx.sessions(key, () => {
          const model = build();
          built.set(key, model);
          return model;
        }),
    };
    const x = { data: new Float32Array(ctx.sampleShape.reduce((a, b) => a * b, 1)).fill(0.25), dims: [1, ...ctx.sampleShape] };
    const r = await explain(spy, { x, params: { method: 'smoothdiff', samples: 3, seed: 2 }, targets: [1] });
    assert.ok(r.attribution.data.every(Number.isFinite));
    const backward = built.get('smoothdiff:backward');
    assert.ok(backward, 'the backward graph was built');
    const forward = new Set(ctx.model.graph.nodes.map((n) => n.name));
    assert.deepEqual(
      backward.graph.nodes.filter((n) => forward.has(n.name)).map((n) => n.name),
      [],
    );
    // The Shape nodes of the GlobalAveragePool and Flatten backward read the input's batch instead.
    assert.ok(backward.graph.nodes.some((n) => n.opType === 'Shape' && n.inputs[0] === ctx.input));
  } finally {
    await ctx.close();
  }
});

interface Fixture {
  name: string;
  file: string;
  targets: number[];
}
const fixtures = JSON.parse(readFileSync(join(FIXTURES, 'models', 'index.json'), 'utf8')) as Fixture[];
for (const fixture of fixtures.filter((f) => f.name.endsWith('op17'))) {
  test(`SmoothDiff runs on ${fixture.name}: finite, non-zero, reproducible`, async () => {
    const ctx = await openModelContext(join(FIXTURES, 'models', fixture.file), { threads: 1 });
    try {
      const a = decodeNpy(readFileSync(join(FIXTURES, 'models', `${fixture.name}.x.npy`)));
      const x = { data: a.data, dims: a.shape };
      const params = { method: 'smoothdiff' as const, samples: 4, seed: 9 };
      const first = await explain(ctx, { x, params, targets: fixture.targets });
      const again = await explain(ctx, { x, params, targets: fixture.targets });
      assert.ok(first.attribution.data.every(Number.isFinite));
      assert.ok(first.attribution.data.some((v) => v !== 0));
      assert.deepEqual(first.attribution.data, again.attribution.data);
    } finally {
      await ctx.close();
    }
  });
}
