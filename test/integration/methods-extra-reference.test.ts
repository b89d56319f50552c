// The methods added after the core family against PyTorch references
// (tools/fixtures/make_extra_method_fixtures.py): the same two networks, inputs, targets and
// explicit noise block as methods-reference.test.ts, so the noisy methods compare exactly.
// Each network also runs as re-exported at opset 11.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeNpy } from '../../src/imaging/npy.js';
import { explain } from '../../src/methods/explain.js';
import { explainTargets } from '../../src/methods/multi-target.js';
import { type MethodParams } from '../../src/methods/params.js';
import { type Tensor } from '../../src/methods/runner.js';
import { type OwnedContext, openModelContext } from '../../src/runtime/model-context.js';
import { perSample } from '../helpers/compare.js';
import { FIXTURES } from '../helpers/paths.js';

interface Case {
  name: string;
  params: MethodParams;
  expected: string;
  noisy: boolean;
  /** NoiseGrad/FusionGrad: the multiplicative weight noise η [models, Σ weight sizes]. */
  weightNoise?: string;
}
interface ModelFixture {
  name: string;
  onnx: string;
  targets: number[];
  layer: string;
  cases: Case[];
}
interface Index {
  inputs: { x: string; noise: string; adaptNormals: string };
  samples: number;
  multiTargets: number[];
  models: ModelFixture[];
}

const COSINE = 0.9999;
const REL_ERR = 1e-3;
const dir = join(FIXTURES, 'methods-extra');
const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Index;
const load = (file: string): Tensor => {
  const { data, shape } = decodeNpy(readFileSync(join(dir, file)));
  return { data, dims: shape };
};
const opsetIndex = JSON.parse(readFileSync(join(FIXTURES, 'opsets', 'index.json'), 'utf8')) as { methods: { name: string; file: string; opset: number }[] };
const runs = index.models.flatMap((fixture) => [
  { label: fixture.name, path: join(dir, fixture.onnx), fixture },
  ...opsetIndex.methods
    .filter((v) => v.name === fixture.name)
    .map((v) => ({ label: `${fixture.name}@opset${v.opset}`, path: join(FIXTURES, 'opsets', v.file), fixture })),
]);

const contexts = new Map<string, Promise<OwnedContext>>();
const contextOf = (label: string, path: string): Promise<OwnedContext> => {
  let ctx = contexts.get(label);
  if (!ctx) contexts.set(label, (ctx = openModelContext(path, { threads: 1 })));
  return ctx;
};
after(async () => {
  const all = await Promise.allSettled(contexts.values());
  await Promise.all(all.map((c) => (c.status === 'fulfilled' ? c.value.close() : undefined)));
});

test('extra method fixtures cover the CAM family on both networks', () => {
  for (const model of index.models) {
    assert.ok(
      model.cases.some((c) => c.params.method === 'adaptgrad'),
      `${model.name}: AdaptGrad`,
    );
    for (const m of ['noisegrad', 'fusiongrad'])
      assert.ok(
        model.cases.some((c) => c.params.method === m),
        `${model.name}: ${m}`,
      );
    assert.ok(
      model.cases.some((c) => c.params.method === 'noisegrad' && c.params.head === false),
      `${model.name}: NoiseGrad without the head`,
    );
    assert.ok(
      model.cases.some((c) => c.name === 'smooth-grad-cam-plus-plus-inner'),
      `${model.name}: Smooth Grad-CAM++ at an inner layer`,
    );
    for (const m of ['grad-cam-plus-plus', 'smooth-grad-cam-plus-plus'])
      assert.ok(
        model.cases.some((c) => c.params.method === m),
        `${model.name}: ${m}`,
      );
    assert.ok(
      model.cases.some((c) => c.params.method === 'smoothgrad' && c.params.base === 'grad-cam'),
      `${model.name}: Smooth Grad-CAM`,
    );
  }
});

for (const { label, path, fixture } of runs) {
  for (const c of fixture.cases.filter((k) => !k.name.startsWith('multi-'))) {
    test(`${label}: ${c.name} matches PyTorch`, async () => {
      const ctx = await contextOf(label, path);
      const x = load(index.inputs.x);
      const expected = load(c.expected);
      // AdaptGrad takes standard normals (its σ is per element), the others the noise itself.
      const noise = c.noisy ? load(c.params.method === 'adaptgrad' ? index.inputs.adaptNormals : index.inputs.noise).data : undefined;
      const weightNoise = c.weightNoise ? load(c.weightNoise).data : undefined;
      const r = await explain(ctx, { x, params: c.params, targets: fixture.targets, noise, weightNoise });
      assert.deepEqual(r.targets, fixture.targets);
      assert.deepEqual(r.attribution.dims, expected.dims);
      if (r.attribution.dims[1] === 1) assert.equal(r.layer, c.params.layer ?? fixture.layer);
      const stats = perSample(r.attribution.data, expected.data, 2);
      const detail = stats.map(({ cosine, relErr }, s) => `sample ${s}: cosine ${cosine}, relative L2 error ${relErr}`).join('; ');
      stats.forEach(({ cosine, relErr }) => {
        assert.ok(cosine >= COSINE, `${label} ${c.name}: ${detail}`);
        assert.ok(relErr <= REL_ERR, `${label} ${c.name}: ${detail}`);
      });
    });
  }
}

for (const { label, path, fixture } of runs) {
  for (const c of fixture.cases.filter((k) => k.name.startsWith('multi-'))) {
    test(`${label}: ${c.name} (classes ${index.multiTargets.join(',')} of one image in one job) matches PyTorch`, async () => {
      const ctx = await contextOf(label, path);
      const x = load(index.inputs.x);
      const one = { data: x.data.subarray(0, x.data.length / 2), dims: [1, ...x.dims.slice(1)] };
      const expected = load(c.expected);
      const noise = c.noisy ? load(index.inputs.noise).data.subarray(0, ((c.params.samples as number | undefined) ?? 0) * one.data.length) : undefined;
      const r = await explainTargets(ctx, { x: one, params: c.params, spec: { classes: index.multiTargets }, noise });
      assert.deepEqual(r.targets, index.multiTargets);
      assert.deepEqual(r.attribution.dims, expected.dims);
      const K = index.multiTargets.length;
      perSample(r.attribution.data, expected.data, K).forEach(({ cosine, relErr }, k) => {
        assert.ok(cosine >= COSINE && relErr <= REL_ERR, `${label} ${c.name} class ${index.multiTargets[k]}: cosine ${cosine}, relative L2 error ${relErr}`);
      });
    });
  }
}

test('several targets: each map equals the single-target job with the same seed bit for bit; top-k takes the largest logits', async () => {
  const fixture = index.models[1] as ModelFixture;
  const ctx = await contextOf(fixture.name, join(dir, fixture.onnx));
  const x = load(index.inputs.x);
  const one = { data: x.data.subarray(0, x.data.length / 2), dims: [1, ...x.dims.slice(1)] };
  for (const params of [
    { method: 'smoothgrad', samples: 4, seed: 9 },
    { method: 'gradient' },
    { method: 'smooth-grad-cam-plus-plus', samples: 3, seed: 2 },
    { method: 'smoothdiff', samples: 5, seed: 4 },
    { method: 'adaptgrad', samples: 3, seed: 6 },
    { method: 'fusiongrad', models: 2, samples: 2, seed: 8 },
    { method: 'integrated-gradients', steps: 4, baseline: 'uniform', seed: 3 },
  ] as MethodParams[]) {
    // SmoothDiff's statistics do not depend on the class: one pass of n copies serves all three.
    let statistics = 0;
    const progress = (done: number, _total: number, stage: string) => stage === 'statistics' && (statistics = done);
    const top = await explainTargets(ctx, { x: one, params, spec: { topK: 3 }, progress });
    if (params.method === 'smoothdiff') assert.equal(statistics, 5, 'noisy copies of the statistics pass');
    const ranked = [...top.logits.data.subarray(0, top.logits.dims[1])].map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]);
    assert.deepEqual(
      top.targets,
      ranked.slice(0, 3).map(([, i]) => i),
      params.method,
    );
    const size = top.attribution.data.length / 3;
    for (let k = 0; k < 3; k++) {
      const single = await explain(ctx, { x: one, params, targets: [top.targets[k] as number] });
      const map = top.attribution.data.subarray(k * size, (k + 1) * size);
      assert.deepEqual(map, single.attribution.data, `${params.method} class ${top.targets[k]}: bit for bit`);
    }
  }
  await assert.rejects(explainTargets(ctx, { x: one, params: { method: 'gradient' }, spec: { classes: [1, 1] } }), /repeat/);
  await assert.rejects(explainTargets(ctx, { x: one, params: { method: 'gradient' }, spec: { topK: 0 } }), /top-0/);
});

test('AdaptGrad: σ_i from the distance to the range, erfinv exact, seeded, the clean gradient one sample', async () => {
  const { erfinv, adaptiveSigma } = await import('../../src/methods/adapt-grad.js');
  assert.ok(Math.abs(erfinv(0.95) - 1.3859038243496777) < 1e-13, String(erfinv(0.95)));
  assert.ok(Math.abs(erfinv(-0.5) + 0.4769362762044699) < 1e-13);
  const fixture = index.models[0] as ModelFixture;
  const ctx = await contextOf(fixture.name, join(dir, fixture.onnx));
  const x: Tensor = { data: Float32Array.of(0, 0.25, 1, 0.5), dims: [1, 1, 2, 2] };
  const s = adaptiveSigma({ ...ctx, pixelRange: { black: [0], white: [1] } }, x, 0.95);
  const k = Math.SQRT2 * 1.3859038243496777;
  [0, 0.25 / k, 0, 0.5 / k].forEach((want, i) => assert.ok(Math.abs((s[i] as number) - want) < 1e-7, `σ_${i} = ${s[i]}`));
  const img = load(index.inputs.x);
  // One sample: only the clean gradient.
  const one = await explain(ctx, { x: img, params: { method: 'adaptgrad', samples: 1 }, targets: fixture.targets });
  const g = await explain(ctx, { x: img, params: { method: 'gradient' }, targets: fixture.targets });
  assert.deepEqual(one.attribution.data, g.attribution.data);
  const a = await explain(ctx, { x: img, params: { method: 'adaptgrad', samples: 4, seed: 1 }, targets: fixture.targets });
  const b = await explain(ctx, { x: img, params: { method: 'adaptgrad', samples: 4, seed: 1 }, targets: fixture.targets });
  assert.deepEqual(a.attribution.data, b.attribution.data);
});

test('the noisy CAM methods are seeded: same seed, bit-identical; progress reaches the total', async () => {
  const fixture = index.models[0] as ModelFixture;
  const ctx = await contextOf(fixture.name, join(dir, fixture.onnx));
  const x = load(index.inputs.x);
  // At the last layer of these networks ∂y_c/∂A is constant: Smooth Grad-CAM++ at an inner one.
  const inner = fixture.cases.find((c) => c.name.endsWith('-inner'))?.params.layer;
  for (const params of [
    { method: 'smoothgrad', base: 'grad-cam', samples: 5, seed: 11 },
    { method: 'smooth-grad-cam-plus-plus', samples: 5, seed: 11, layer: inner },
  ] as MethodParams[]) {
    const seen: [number, number][] = [];
    const a = await explain(ctx, { x, params, targets: fixture.targets, progress: (done, total) => seen.push([done, total]) });
    const b = await explain(ctx, { x, params, targets: fixture.targets });
    const c = await explain(ctx, { x, params: { ...params, seed: 12 }, targets: fixture.targets });
    assert.deepEqual(a.attribution.data, b.attribution.data, params.method);
    assert.notDeepEqual(a.attribution.data, c.attribution.data, params.method);
    const last = seen.at(-1);
    assert.ok(last && last[0] === last[1], `${params.method}: progress ${JSON.stringify(seen)}`);
  }
});

test('Smooth Grad-CAM with zero noise is Grad-CAM; Smooth Grad-CAM++ with zero noise is Grad-CAM++', async () => {
  const fixture = index.models[0] as ModelFixture;
  const ctx = await contextOf(fixture.name, join(dir, fixture.onnx));
  const x = load(index.inputs.x);
  const zeros = new Float32Array(x.data.length * 3);
  const layer = fixture.cases.find((c) => c.name.endsWith('-inner'))?.params.layer;
  const cam = await explain(ctx, { x, params: { method: 'grad-cam', layer }, targets: fixture.targets });
  const smooth = await explain(ctx, { x, params: { method: 'smoothgrad', base: 'grad-cam', samples: 3, layer }, targets: fixture.targets, noise: zeros });
  const plus = await explain(ctx, { x, params: { method: 'grad-cam-plus-plus', layer }, targets: fixture.targets });
  const smoothPlus = await explain(ctx, { x, params: { method: 'smooth-grad-cam-plus-plus', samples: 3, layer }, targets: fixture.targets, noise: zeros });
  for (const [got, want] of [
    [smooth, cam],
    [smoothPlus, plus],
  ] as const) {
    perSample(got.attribution.data, want.attribution.data, 2).forEach(({ cosine, relErr }) =>
      assert.ok(cosine >= 0.999999 && relErr <= 1e-5, `cosine ${cosine}, relative error ${relErr}`),
    );
  }
});

test('NoiseGrad: seeded; σ_w = 0 is the gradient; head=false leaves the last Gemm clean', async () => {
  const { perturbedWeights } = await import('../../src/methods/noise-grad.js');
  const fixture = index.models[1] as ModelFixture;
  const ctx = await contextOf(fixture.name, join(dir, fixture.onnx));
  const x = load(index.inputs.x);
  const all = perturbedWeights(ctx, { head: true });
  const body = perturbedWeights(ctx, { head: false });
  assert.equal(all.length - body.length, 2, 'the head’s weight and bias');
  const g = await explain(ctx, { x, params: { method: 'gradient' }, targets: fixture.targets });
  const zero = await explain(ctx, { x, params: { method: 'noisegrad', models: 2, weightNoise: 0 }, targets: fixture.targets });
  perSample(zero.attribution.data, g.attribution.data, 2).forEach(({ cosine, relErr }) =>
    assert.ok(cosine >= 0.999999 && relErr <= 1e-5, `${cosine} ${relErr}`),
  );
  const a = await explain(ctx, { x, params: { method: 'fusiongrad', models: 2, samples: 2, seed: 4 }, targets: fixture.targets });
  const b = await explain(ctx, { x, params: { method: 'fusiongrad', models: 2, samples: 2, seed: 4 }, targets: fixture.targets });
  const c = await explain(ctx, { x, params: { method: 'fusiongrad', models: 2, samples: 2, seed: 5 }, targets: fixture.targets });
  assert.deepEqual(a.attribution.data, b.attribution.data);
  assert.notDeepEqual(a.attribution.data, c.attribution.data);
});
