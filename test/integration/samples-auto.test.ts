// samples=auto: copies are drawn in chunks until ‖SE of the mean map‖ / ‖mean map‖ ≤ tolerance.
// A linear model's gradient does not depend on the noise (error 0 after the first chunk); a ReLU
// layer at x = 0 sees a coin flip per element (error ≈ 1/√n, above 0.05 up to n = 400).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { explain } from '../../src/methods/explain.js';
import { adaptiveChunk, nextAutoChunk, relativeStandardError } from '../../src/methods/gradient-family.js';
import { resolveParams, usedParams } from '../../src/methods/params.js';
import { contextForModel } from '../../src/runtime/model-context.js';
import { graphModel, seededNormal } from '../helpers/tiny-graph.js';

const DIM = 32;
const CLASSES = 2;
const W = seededNormal(5, DIM * CLASSES);

const linear = () =>
  graphModel({
    x: [DIM],
    opset: 17,
    initializers: { w: { float: W, dims: [DIM, CLASSES] } },
    nodes: [{ opType: 'MatMul', inputs: ['x', 'w'], outputs: ['y'], attrs: {} }],
  });
const relu = () =>
  graphModel({
    x: [DIM],
    opset: 17,
    initializers: { w: { float: W, dims: [DIM, CLASSES] } },
    nodes: [
      { opType: 'Relu', inputs: ['x'], outputs: ['h'], attrs: {} },
      { opType: 'MatMul', inputs: ['h', 'w'], outputs: ['y'], attrs: {} },
    ],
  });

test('the next chunk of samples=auto is what the error predicts is still needed, within its bounds', () => {
  // 10 samples at error 0.1: 10·(0.1/0.05)² = 40 in all, 30 more.
  assert.equal(nextAutoChunk(10, 0.1, 0.05, 10, 40), 30);
  // Nearly there: at least the first chunk's size, so the error is checked no more often than that.
  assert.equal(nextAutoChunk(10, 0.052, 0.05, 10, 40), 10);
  // Far off, or unknown: what is left (or what one run holds).
  assert.equal(nextAutoChunk(10, 1, 0.05, 10, 40), 40);
  assert.equal(nextAutoChunk(1, Infinity, 0.05, 10, 25), 25);
  assert.equal(nextAutoChunk(10, 1, 0.05, 10, 3), 3);
});

test('the relative standard error of a mean map from Σx and Σx²', () => {
  // Two samples per element: {1, 3} and {2, 2}: means 2 and 2, variances 2 and 0.
  const e = relativeStandardError(Float32Array.of(4, 4), Float32Array.of(10, 8), 2);
  assert.ok(Math.abs(e - Math.sqrt(2 / 2 / 8)) < 1e-12, String(e));
  assert.equal(relativeStandardError(Float32Array.of(4), Float32Array.of(16), 1), Infinity);
  assert.equal(adaptiveChunk(50), 10);
  assert.equal(adaptiveChunk(3), 2);
});

test('samples=auto stops after the first chunk on a model whose gradient the noise does not change', async () => {
  const ctx = await contextForModel(linear(), { threads: 1 });
  try {
    const x = { data: seededNormal(6, DIM), dims: [1, DIM] };
    for (const method of ['smoothgrad', 'smoothgrad-squared', 'vargrad'] as const) {
      const r = await explain(ctx, { x, params: { method, samples: 'auto', maxSamples: 50, seed: 3 }, targets: [1] });
      assert.deepEqual(r.samplesUsed, [adaptiveChunk(50)], method);
      // Zero up to the rounding of float32 sums (Σx² − n·mean² cancels).
      assert.ok((r.relativeError?.[0] as number) <= 1e-3, `${method}: ${r.relativeError}`);
      assert.deepEqual(usedParams(r.params), { ...usedParams(r.params), samples: 'auto', maxSamples: 50, tolerance: 0.05 });
    }
  } finally {
    await ctx.close();
  }
});

test('samples=auto runs to the maximum where the error stays above the tolerance, with the noise of a fixed run', async () => {
  const ctx = await contextForModel(relu(), { threads: 1 });
  try {
    const x = { data: new Float32Array(DIM), dims: [1, DIM] };
    const params = { method: 'smoothgrad' as const, sigma: 1, seed: 9 };
    const runs: number[] = [];
    const auto = await explain(ctx, { x, params: { ...params, samples: 'auto', maxSamples: 20 }, targets: [0], progress: (done) => runs.push(done) });
    assert.deepEqual(auto.samplesUsed, [20]);
    const error = auto.relativeError?.[0] as number;
    assert.ok(error > 0.05 && error < 1, `error ${error}`);
    // Far from the tolerance after the first chunk (a fifth: 4 copies), the error predicts far more
    // than the 16 left: they go in one run instead of four.
    assert.deepEqual(runs, [adaptiveChunk(20), 20]);
    // The same copies as a fixed run of 20: chunking never changes the noise stream.
    const fixed = await explain(ctx, { x, params: { ...params, samples: 20 }, targets: [0] });
    assert.deepEqual(fixed.samplesUsed, [20]);
    auto.attribution.data.forEach((v, i) => assert.ok(Math.abs(v - (fixed.attribution.data[i] as number)) <= 1e-6, `element ${i}`));
    // A loose tolerance stops it early, on a chunk boundary.
    const loose = await explain(ctx, { x, params: { ...params, samples: 'auto', maxSamples: 40, tolerance: 0.9 }, targets: [0] });
    const used = loose.samplesUsed?.[0] as number;
    assert.ok(used < 40 && used % adaptiveChunk(40) === 0, `used ${used}`);
    assert.ok((loose.relativeError?.[0] as number) <= 0.9);
  } finally {
    await ctx.close();
  }
});

test('samples=auto is only adaptive for the SmoothGrad family', () => {
  assert.equal(resolveParams({ method: 'smoothgrad', samples: 'auto' }, 1).auto, true);
  assert.equal(resolveParams({ method: 'smoothgrad', samples: 'auto' }, 1).samples, 50);
  assert.equal(resolveParams({ method: 'smoothgrad', samples: 'auto', preset: 'pair' }, 1).samples, 25);
  assert.equal(resolveParams({ method: 'smoothdiff', samples: 'auto' }, 1).auto, false);
  assert.equal(resolveParams({ method: 'smoothgrad', samples: 12 }, 1).auto, false);
});
