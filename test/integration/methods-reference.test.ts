// Every explanation method against PyTorch references computed from the definitions in
// docs/methods.md: fixtures from tools/fixtures/make_method_fixtures.py (two conditioned ReLU/MaxPool
// networks, batch of 2 with targets [3, 7]). The noisy methods are fed the same explicit noise
// block as PyTorch, so they are compared exactly, not statistically. Each network runs twice: as
// exported at opset 13, and re-exported at opset 11 (tools/fixtures/make_opset_fixtures.py), where
// the fused graph must use only what opset 11 has.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeNpy } from '../../src/imaging/npy.js';
import { explain } from '../../src/methods/explain.js';
import { type MethodParams } from '../../src/methods/params.js';
import { type Tensor } from '../../src/methods/runner.js';
import { type OwnedContext, openModelContext } from '../../src/runtime/model-context.js';
import { perSample } from '../helpers/compare.js';
import { FIXTURES } from '../helpers/paths.js';

type FixtureParams = Omit<MethodParams, 'baseline'> & { baseline?: 'zeros' | 'uploaded' };

interface Case {
  name: string;
  params: FixtureParams;
  expected: string;
  noisy: boolean;
  /** IG: Σ attribution − (y_c(x) − y_c(x₀)) per sample, and y_c(x) − y_c(x₀). */
  gap?: number[];
  logitDelta?: number[];
}

interface ModelFixture {
  name: string;
  file: string;
  x: string;
  noise: string;
  baseline: string;
  logits: string;
  targets: number[];
  layer: string;
  cases: Case[];
}

interface Index {
  samples: number;
  models: ModelFixture[];
}

/** Cases where our implementation is known to disagree with the reference: `model/case` → why. */
const TODO: Record<string, string> = {};

const COSINE = 0.9999;
const REL_ERR = 1e-3;
const GAP = 1e-3;

const dir = join(FIXTURES, 'methods');
const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Index;
const load = (file: string): Tensor => {
  const { data, shape } = decodeNpy(readFileSync(join(dir, file)));
  return { data, dims: shape };
};

interface OpsetVariant {
  name: string;
  file: string;
  opset: number;
}
const opsetIndex = JSON.parse(readFileSync(join(FIXTURES, 'opsets', 'index.json'), 'utf8')) as { methods: OpsetVariant[] };

/** One model file to run the cases on: the fixture's own, or an other-opset export of it. */
interface Run {
  label: string;
  path: string;
  fixture: ModelFixture;
}
const runs: Run[] = index.models.flatMap((fixture) => [
  { label: fixture.name, path: join(dir, fixture.file), fixture },
  ...opsetIndex.methods
    .filter((v) => v.name === fixture.name)
    .map((v) => ({ label: `${fixture.name}@opset${v.opset}`, path: join(FIXTURES, 'opsets', v.file), fixture })),
]);

const contexts = new Map<string, Promise<OwnedContext>>();
const contextOf = (run: Run): Promise<OwnedContext> => {
  let ctx = contexts.get(run.label);
  if (!ctx) {
    ctx = openModelContext(run.path, { threads: 1 });
    contexts.set(run.label, ctx);
  }
  return ctx;
};

after(async () => {
  const all = await Promise.allSettled(contexts.values());
  contexts.clear();
  await Promise.all(all.map((c) => (c.status === 'fulfilled' ? c.value.close() : undefined)));
});

test('method fixtures cover every method, IG rule and SmoothGrad base', () => {
  const methods = [
    'gradient',
    'gradient-x-input',
    'integrated-gradients',
    'smoothgrad',
    'smoothgrad-squared',
    'vargrad',
    'smoothdiff',
    'guided-backprop',
    'grad-cam',
    'guided-grad-cam',
  ];
  const rules = ['gauss-legendre', 'riemann-left', 'riemann-right', 'riemann-middle', 'riemann-trapezoid', 'uniform-inclusive'];
  const bases = ['gradient', 'gradient-x-input', 'integrated-gradients', 'guided-backprop'];
  assert.deepEqual(
    index.models.map((m) => m.name),
    ['cnn-maxpool', 'resnet-basic'],
  );
  for (const model of index.models) {
    const has = (p: (c: Case) => boolean, what: string) => assert.ok(model.cases.some(p), `${model.name}: no case for ${what}`);
    for (const m of methods) has((c) => c.params.method === m, m);
    for (const r of rules) has((c) => c.params.method === 'integrated-gradients' && c.params.rule === r && c.params.baseline === 'zeros', `IG ${r}`);
    has((c) => c.params.baseline === 'uploaded', 'IG with an uploaded baseline');
    for (const b of bases) has((c) => c.params.method === 'smoothgrad' && c.params.base === b, `SmoothGrad over ${b}`);
    has((c) => c.params.method === 'vargrad' && c.params.unbiased === true, 'unbiased VarGrad');
    has((c) => c.params.method === 'vargrad' && c.params.unbiased === false, 'biased VarGrad');
  }
});

test('every method network also runs at opset 11', () => {
  for (const model of index.models)
    assert.ok(
      runs.some((r) => r.fixture === model && r.label.endsWith('@opset11')),
      `${model.name}: no opset-11 file`,
    );
});

for (const run of runs) {
  const { fixture, label } = run;
  test(`${label}: logits match PyTorch`, async () => {
    const ctx = await contextOf(run);
    const x = load(fixture.x);
    const expected = load(fixture.logits);
    // The gradient's `logits` come from the forward model: compare them too.
    const r = await explain(ctx, { x, params: { method: 'gradient' }, targets: fixture.targets });
    assert.deepEqual(r.logits.dims, expected.dims);
    perSample(r.logits.data, expected.data, 2).forEach(({ cosine, relErr }, s) => {
      const detail = `${fixture.name} logits sample ${s}: cosine ${cosine}, relative L2 error ${relErr}`;
      assert.ok(cosine >= 0.999999, detail);
      assert.ok(relErr <= 1e-5, detail);
    });
  });

  for (const c of fixture.cases) {
    const todo = TODO[`${fixture.name}/${c.name}`];
    test(`${label}: ${c.name} matches PyTorch`, todo ? { todo } : {}, async () => {
      const ctx = await contextOf(run);
      const x = load(fixture.x);
      const expected = load(c.expected);
      const { baseline, ...rest } = c.params;
      const params: MethodParams = { ...rest };
      if (baseline === 'uploaded') {
        const b = load(fixture.baseline);
        params.baseline = { data: b.data, dims: b.dims };
      } else if (baseline) params.baseline = baseline;
      const noise = c.noisy ? load(fixture.noise).data : undefined;
      if (noise) assert.equal(c.params.samples, index.samples);

      const r = await explain(ctx, { x, params, targets: fixture.targets, noise });
      assert.deepEqual(r.targets, fixture.targets);
      assert.deepEqual(r.attribution.dims, expected.dims);
      if (c.params.layer) assert.equal(r.layer, fixture.layer);
      const stats = perSample(r.attribution.data, expected.data, 2);
      const detail = stats.map(({ cosine, relErr }, s) => `sample ${s}: cosine ${cosine}, relative L2 error ${relErr}`).join('; ');
      stats.forEach(({ cosine, relErr }) => {
        assert.ok(cosine >= COSINE, `${fixture.name} ${c.name}: ${detail}`);
        assert.ok(relErr <= REL_ERR, `${fixture.name} ${c.name}: ${detail}`);
      });

      if (c.gap && c.logitDelta) {
        const gaps = r.completenessGap;
        assert.ok(gaps, `${fixture.name} ${c.name}: no completeness gap reported`);
        c.gap.forEach((want, s) => {
          const got = gaps[s] as number;
          const scale = Math.abs(c.logitDelta?.[s] as number);
          assert.ok(
            Math.abs(got - want) <= GAP * scale,
            `${fixture.name} ${c.name} sample ${s}: completeness gap ${got}, PyTorch ${want} (|y(x) − y(x₀)| = ${scale})`,
          );
        });
      }
    });
  }
}
