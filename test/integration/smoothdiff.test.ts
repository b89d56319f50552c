// SmoothDiff against its own definition (METHODS.md): counts/n at ReLUs, per-window win
// fractions at MaxPool (with planted ties), equality with SmoothGrad for one nonlinear layer,
// separate statistics per call site, and that it runs on every architecture.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { attr } from '../../src/onnx/attributes.js';
import { decodeNpy } from '../../src/imaging/npy.js';
import { compileFor } from '../../src/methods/context.js';
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

// Opset 16 and later count the winning offsets with ScatterElements; before, one-hot masks are summed.
for (const opset of [13, 17]) test(`MaxPool 3×3 stride 2 (overlapping, padded), opset ${opset}: per-window win fractions, first maximum wins ties`, async () => {
  const H = 5;
  const O = 3;
  const fc = seededNormal(3, O * O * CLASSES);
  const model = graphModel({
    x: [1, H, H],
    opset,
    initializers: { w: { float: fc, dims: [O * O, CLASSES] } },
    nodes: [
      { opType: 'MaxPool', inputs: ['x'], outputs: ['p'], attrs: { kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) } },
      { opType: 'Flatten', inputs: ['p'], outputs: ['f'], attrs: {} },
      { opType: 'MatMul', inputs: ['f', 'w'], outputs: ['y'], attrs: {} },
    ],
  });
  const ctx = await contextForModel(model, { threads: 1 });
  try {
    // Copies with planted ties: all values equal in copy 0; two equal maxima in copy 1.
    const copies = [
      new Float32Array(H * H).fill(1),
      Float32Array.from({ length: H * H }, (_, i) => (i === 6 || i === 8 ? 5 : 0)),
      Float32Array.from({ length: H * H }, (_, i) => i % 7),
    ];
    const n = copies.length;
    const noise = new Float32Array(n * H * H);
    copies.forEach((c, k) => noise.set(c, k * H * H));
    const target = 2;
    const r = await explain(ctx, { x: { data: new Float32Array(H * H), dims: [1, 1, H, H] }, params: { method: 'smoothdiff', samples: n }, targets: [target], noise });
    // Reference: per copy and window, the first maximum in raster order (padding never wins)
    // takes g_out[window]/n; overlapping windows add up.
    const expected = new Float64Array(H * H);
    for (const copy of copies) {
      for (let oy = 0; oy < O; oy++) {
        for (let ox = 0; ox < O; ox++) {
          let best = -1;
          for (let ky = 0; ky < 3; ky++) {
            for (let kx = 0; kx < 3; kx++) {
              const [y, x] = [oy * 2 - 1 + ky, ox * 2 - 1 + kx];
              if (y < 0 || y >= H || x < 0 || x >= H) continue;
              if (best < 0 || (copy[y * H + x] as number) > (copy[best] as number)) best = y * H + x;
            }
          }
          expected[best] = (expected[best] as number) + (fc[(oy * O + ox) * CLASSES + target] as number) / n;
        }
      }
    }
    expected.forEach((e, i) => assert.ok(Math.abs((r.attribution.data[i] as number) - e) < 1e-6, `position ${i}: ${r.attribution.data[i]} vs ${e}`));
  } finally {
    await ctx.close();
  }
});

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
