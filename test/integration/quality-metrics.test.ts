// The quality metrics against the same formulas in float64 numpy
// (tools/fixtures/make_extra_method_fixtures.py, on stored attributions of sample 0), plus
// sanity checks: random maps have SRG ≈ 0 on average; the gradient of a linear model ranks the
// pixels perfectly (its MoRF curve is below, its LeRF curve above, that of any other order).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeNpy } from '../../src/imaging/npy.js';
import { explain } from '../../src/methods/explain.js';
import { explainTargets } from '../../src/methods/multi-target.js';
import { type MethodParams } from '../../src/methods/params.js';
import { Rng } from '../../src/methods/rng.js';
import { type Tensor } from '../../src/methods/runner.js';
import { type MetricName, evaluateMetrics, randomOtherClass } from '../../src/metrics/evaluate.js';
import { type Imputation, pixelFlipping } from '../../src/metrics/pixel-flipping.js';
import { complexity, magnitudeMap, sparseness, ssim } from '../../src/metrics/quality.js';
import { type OwnedContext, contextForModel, openModelContext } from '../../src/runtime/model-context.js';
import { FIXTURES } from '../helpers/paths.js';
import { graphModel } from '../helpers/tiny-graph.js';

interface Flip {
  steps: number;
  imputation: Imputation;
  morf: number[];
  lerf: number[];
  srg: number;
}
interface MetricCase {
  attribution: string;
  kind: 'sensitivity' | 'attribution';
  target: number;
  sparseness: number;
  complexity: number;
  ssimWith: string;
  ssim: number;
  pixelFlipping: Flip[];
}
interface Index {
  inputs: { x: string };
  models: { name: string; onnx: string; metrics: MetricCase[] }[];
}

const TOL = 1e-5;
const dir = join(FIXTURES, 'methods-extra');
const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Index;
const load = (file: string): Tensor => {
  const { data, shape } = decodeNpy(readFileSync(join(dir, file)));
  return { data, dims: shape };
};
/** Sample 0 of a stored batch. */
const first = (t: Tensor): Tensor => ({ data: t.data.subarray(0, t.data.length / (t.dims[0] as number)), dims: [1, ...t.dims.slice(1)] });
const close = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) <= TOL, `${what}: ${got}, numpy ${want}`);

const owned: OwnedContext[] = [];
after(async () => {
  for (const c of owned) await c.close();
});

for (const model of index.models) {
  test(`${model.name}: sparseness, complexity, SSIM and both pixel-flipping curves match the numpy formulas`, async () => {
    const ctx = await openModelContext(join(dir, model.onnx), { threads: 1 });
    owned.push(ctx);
    const x = first(load(index.inputs.x));
    for (const c of model.metrics) {
      const a = first(load(c.attribution));
      const [, C = 1, H = 1, W = 1] = a.dims;
      const map = magnitudeMap(a.data, C, c.kind);
      close(sparseness(map), c.sparseness, `${c.attribution} sparseness`);
      close(complexity(map), c.complexity, `${c.attribution} complexity`);
      const other = first(load(c.ssimWith));
      close(ssim(map, magnitudeMap(other.data, other.dims[1] as number, 'sensitivity'), H, W), c.ssim, `${c.attribution} SSIM`);
      for (const want of c.pixelFlipping) {
        const got = await pixelFlipping(ctx, x, a, c.target, want.steps, want.imputation);
        const what = `${c.attribution} pixel flipping (${want.imputation})`;
        assert.equal(got.morf.length, want.steps + 1);
        got.morf.forEach((v, s) => close(v, want.morf[s] as number, `${what} MoRF step ${s}`));
        got.lerf.forEach((v, s) => close(v, want.lerf[s] as number, `${what} LeRF step ${s}`));
        close(got.srg, want.srg, `${what} SRG`);
      }
    }
  });
}

test('random maps: SRG ≈ 0 on average', async () => {
  const model = index.models[0] as Index['models'][number];
  const ctx = await openModelContext(join(dir, model.onnx), { threads: 1 });
  owned.push(ctx);
  const x = first(load(index.inputs.x));
  const rng = new Rng(4);
  const srgs: number[] = [];
  for (let k = 0; k < 24; k++) {
    const map = rng.fillNormal(new Float32Array(x.data.length / 3), 1);
    srgs.push((await pixelFlipping(ctx, x, { data: map, dims: [1, 1, 32, 32] }, 3, 8, 'zeros')).srg);
  }
  const mean = srgs.reduce((a, b) => a + b, 0) / srgs.length;
  const sd = Math.sqrt(srgs.reduce((a, b) => a + (b - mean) ** 2, 0) / (srgs.length - 1));
  assert.ok(sd > 0);
  assert.ok(Math.abs(mean) <= (4 * sd) / Math.sqrt(srgs.length), `mean SRG ${mean} of random maps, sd ${sd}`);
});

test('a linear model: its gradient ranks the pixels perfectly under pixel flipping', async () => {
  // y = W·flatten(x), x ∈ [1,4,4] all ones, W[:,0] distinct positive weights, W[:,1] = 0: flipping
  // pixel i to 0 lowers logit 0 by W[i,0], so the gradient's order is the best MoRF order.
  const n = 16;
  const weights = new Float32Array(n * 2);
  const perm = [5, 12, 0, 9, 3, 15, 7, 1, 14, 10, 2, 8, 13, 4, 11, 6];
  perm.forEach((r, i) => (weights[i * 2] = 0.05 * (r + 1)));
  const model = graphModel({
    x: [1, 4, 4],
    opset: 13,
    initializers: { w: { float: weights, dims: [n, 2] } },
    nodes: [
      { opType: 'Flatten', inputs: ['x'], outputs: ['f'], attrs: {} },
      { opType: 'MatMul', inputs: ['f', 'w'], outputs: ['y'], attrs: {} },
    ],
  });
  const ctx = await contextForModel(model, { threads: 1 });
  owned.push(ctx);
  const x: Tensor = { data: new Float32Array(n).fill(1), dims: [1, 1, 4, 4] };
  const g = await explain(ctx, { x, params: { method: 'gradient' }, targets: [0] });
  const best = await pixelFlipping(ctx, x, g.attribution, 0, n, 'zeros');
  for (let s = 1; s < n; s++) assert.ok((best.morf[s] as number) < (best.morf[s - 1] as number), `MoRF falls at every step: ${best.morf.join(', ')}`);
  const rng = new Rng(8);
  for (let k = 0; k < 8; k++) {
    const other = await pixelFlipping(ctx, x, { data: rng.fillNormal(new Float32Array(n), 1), dims: [1, 1, 4, 4] }, 0, n, 'zeros');
    for (let s = 0; s <= n; s++) {
      assert.ok((best.morf[s] as number) <= (other.morf[s] as number) + 1e-7, `step ${s}: MoRF ${best.morf[s]} > a random order's ${other.morf[s]}`);
      assert.ok((best.lerf[s] as number) >= (other.lerf[s] as number) - 1e-7, `step ${s}: LeRF ${best.lerf[s]} < a random order's ${other.lerf[s]}`);
    }
    assert.ok(best.srg >= other.srg);
  }
  assert.ok(best.srg > 0);
});

test('evaluateMetrics: all four on one job, seeded; random-logit explains another class', async () => {
  const model = index.models[1] as Index['models'][number];
  const ctx = await openModelContext(join(dir, model.onnx), { threads: 1 });
  owned.push(ctx);
  const x = first(load(index.inputs.x));
  const params = { method: 'smoothgrad' as const, samples: 3, seed: 5 };
  const r = await explain(ctx, { x, params, targets: [3] });
  const [m] = await evaluateMetrics(ctx, x, params, r, { metrics: ['sparseness', 'complexity', 'pixel-flipping', 'random-logit'], steps: 4 });
  assert.ok(m);
  assert.ok(m.sparseness !== undefined && m.sparseness > 0 && m.sparseness < 1);
  assert.ok(m.complexity !== undefined && m.complexity > 0 && m.complexity <= Math.log(32 * 32) + 1e-9);
  assert.equal(m.pixelFlipping?.morf.length, 5);
  const other = randomOtherClass(5, 3, 10);
  assert.notEqual(other, 3);
  assert.equal(m.randomLogit?.class, other);
  assert.ok(m.randomLogit && m.randomLogit.ssim > -1 && m.randomLogit.ssim <= 1);
  const [again] = await evaluateMetrics(ctx, x, params, r, { metrics: ['random-logit'] });
  assert.deepEqual(again?.randomLogit, m.randomLogit);
  // Every class but the target is drawn, and only those.
  const drawn = new Set(Array.from({ length: 400 }, (_, s) => randomOtherClass(s, 3, 10)));
  assert.deepEqual(
    [...drawn].sort((a, b) => a - b),
    [0, 1, 2, 4, 5, 6, 7, 8, 9],
  );
});

test('evaluateMetrics on several targets: one set per class, each as the single-target job computes it', async () => {
  const model = index.models[1] as Index['models'][number];
  const ctx = await openModelContext(join(dir, model.onnx), { threads: 1 });
  owned.push(ctx);
  const x = first(load(index.inputs.x));
  const request = { metrics: ['sparseness', 'complexity', 'pixel-flipping', 'random-logit'] as MetricName[], steps: 3 };
  for (const params of [
    { method: 'smoothgrad', samples: 3, seed: 5 },
    { method: 'smoothdiff', samples: 3, seed: 2 },
  ] as MethodParams[]) {
    const several = await explainTargets(ctx, { x, params, spec: { classes: [3, 6, 1] } });
    const perClass = await evaluateMetrics(ctx, x, params, several, request);
    assert.equal(perClass.length, 3);
    for (const [k, target] of [3, 6, 1].entries()) {
      const single = await explain(ctx, { x, params, targets: [target] });
      assert.deepEqual(perClass[k], (await evaluateMetrics(ctx, x, params, single, request))[0], `${params.method} class ${target}`);
    }
  }
});
