// Behaviour of the methods beyond single reference values: reproducibility, batching under a
// memory budget, convergence, presets, progress.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decodeNpy } from '../../src/imaging/npy.js';
import { bytesPerSample } from '../../src/methods/context.js';
import { explain, logitsOf } from '../../src/methods/explain.js';
import { resolveParams } from '../../src/methods/params.js';
import { resolveTargets } from '../../src/methods/targets.js';
import { type OwnedContext, openModelContext } from '../../src/runtime/model-context.js';
import { perSample } from '../helpers/compare.js';
import { FIXTURES } from '../helpers/paths.js';

const NAME = 'resnet-basic-op17';
const a = decodeNpy(readFileSync(join(FIXTURES, 'models', `${NAME}.x.npy`)));
const x = { data: a.data, dims: a.shape };
const targets = [3, 7];
let ctx: OwnedContext;
let small: OwnedContext;

before(async () => {
  ctx = await openModelContext(join(FIXTURES, 'models', `${NAME}.onnx`), { threads: 1 });
  // A budget of about 3 samples per run forces every chunking path.
  small = await openModelContext(join(FIXTURES, 'models', `${NAME}.onnx`), { threads: 1, budgetBytes: 1 });
  small.budgetBytes = 3 * bytesPerSample(small.facts);
});
after(async () => {
  await ctx.close();
  await small.close();
});

function assertClose(actual: Float32Array, expected: Float32Array, bound = 1e-5): void {
  perSample(actual, expected, 2).forEach(({ cosine, relErr }, s) =>
    assert.ok(relErr <= bound && cosine > 0.99999, `sample ${s}: cosine ${cosine}, relErr ${relErr}`),
  );
}

test('the same seed gives bit-identical results, and the seed is reported', async () => {
  const params = { method: 'smoothgrad' as const, samples: 6, seed: 42 };
  const first = await explain(ctx, { x, params, targets });
  const again = await explain(ctx, { x, params, targets });
  assert.equal(first.params.seed, 42);
  assert.deepEqual(first.attribution.data, again.attribution.data);
  const other = await explain(ctx, { x, params: { ...params, seed: 43 }, targets });
  assert.notDeepEqual(first.attribution.data, other.attribution.data);
  const unseeded = await explain(ctx, { x, params: { method: 'smoothgrad', samples: 2 }, targets });
  assert.ok(Number.isInteger(unseeded.params.seed));
});

// Single-point methods pick each image's argmax in the run that computes the gradient.
for (const method of ['gradient', 'gradient-x-input', 'guided-backprop'] as const) {
  test(`${method} without targets: each image's argmax, picked in the same run, as if it had been given`, async () => {
    const clean = await logitsOf(ctx, x);
    const expected = resolveTargets(clean);
    assert.notEqual(expected[0], expected[1], 'the two images have different argmaxes (non-degenerate test)');
    for (const c of [ctx, small]) {
      const picked = await explain(c, { x, params: { method } });
      assert.deepEqual(picked.targets, expected);
      picked.logits.data.forEach((v, i) =>
        assert.ok(Math.abs(v - (clean.data[i] as number)) <= 1e-5 * Math.max(1, Math.abs(v)), `logit ${i}: ${v} vs ${clean.data[i]}`),
      );
      const given = await explain(c, { x, params: { method }, targets: expected });
      assert.deepEqual(picked.attribution.data, given.attribution.data);
    }
  });
}

for (const params of [
  { method: 'smoothgrad' as const, samples: 7, seed: 1 },
  { method: 'vargrad' as const, samples: 7, seed: 1 },
  { method: 'smoothgrad' as const, base: 'integrated-gradients' as const, samples: 3, steps: 5, seed: 1 },
  { method: 'integrated-gradients' as const, steps: 8 },
  { method: 'smoothdiff' as const, samples: 7, seed: 1 },
  // Without the ReLU: a target whose map is all negative would compare two zero maps.
  { method: 'grad-cam' as const, relu: false },
]) {
  test(`${params.method}${'base' in params ? ` over ${params.base}` : ''}: runs cut by a small memory budget give the same result`, async () => {
    const whole = await explain(ctx, { x, params, targets });
    const chunked = await explain(small, { x, params, targets });
    assertClose(chunked.attribution.data, whole.attribution.data);
  });
}

test('progress is reported up to the total number of passes', async () => {
  const seen: [number, number][] = [];
  await explain(small, { x, params: { method: 'smoothgrad', samples: 5, seed: 3 }, targets, progress: (done, total) => seen.push([done, total]) });
  assert.ok(seen.length > 1);
  for (let i = 1; i < seen.length; i++) assert.ok((seen[i]?.[0] as number) >= (seen[i - 1]?.[0] as number));
  assert.deepEqual(seen.at(-1), [10, 10]);
});

// On a smooth network (ConvNeXt, GELU): the tiny random ReLU fixtures have gradients so rough
// that 1000 samples still leave cosine ≈ 0.95 between seeds.
async function onConvNext<T>(run: (c: OwnedContext, input: typeof x) => Promise<T>): Promise<T> {
  const name = 'convnext-op17';
  const c = await openModelContext(join(FIXTURES, 'models', `${name}.onnx`), { threads: 1 });
  const data = decodeNpy(readFileSync(join(FIXTURES, 'models', `${name}.x.npy`)));
  try {
    return await run(c, { data: data.data, dims: data.shape });
  } finally {
    await c.close();
  }
}

test('SmoothGrad with n = 1000 converges: two seeds agree to cosine ≥ 0.99', async () => {
  await onConvNext(async (c, input) => {
    const one = await explain(c, { x: input, params: { method: 'smoothgrad', samples: 1000, seed: 1 }, targets });
    const two = await explain(c, { x: input, params: { method: 'smoothgrad', samples: 1000, seed: 2 }, targets });
    perSample(one.attribution.data, two.attribution.data, 2).forEach(({ cosine }) => assert.ok(cosine >= 0.99, `cosine ${cosine}`));
  });
});

test('unbiased VarGrad is the biased one times n/(n−1)', async () => {
  const n = 6;
  const biased = await explain(ctx, { x, params: { method: 'vargrad', samples: n, seed: 5 }, targets });
  const unbiased = await explain(ctx, { x, params: { method: 'vargrad', samples: n, seed: 5, unbiased: true }, targets });
  const scaled = biased.attribution.data.map((v) => (v * n) / (n - 1));
  assertClose(unbiased.attribution.data, scaled, 1e-6);
});

test('integrated gradients is complete up to quadrature error (smooth network)', async () => {
  await onConvNext(async (c, input) => {
    const r = await explain(c, { x: input, params: { method: 'integrated-gradients', steps: 64 }, targets });
    assert.ok(r.completenessGap);
    for (const gap of r.completenessGap) assert.ok(Math.abs(gap) < 1e-3, `gap ${gap}`);
  });
});

test('presets fill the defaults of the library they match', () => {
  assert.deepEqual((({ samples, sigma }) => ({ samples, sigma }))(resolveParams({ method: 'smoothgrad', preset: 'captum' }, 1)), { samples: 5, sigma: 1 });
  const pair = resolveParams({ method: 'integrated-gradients', preset: 'pair' }, 1);
  assert.equal(pair.steps, 25);
  assert.equal(pair.rule, 'uniform-inclusive');
  assert.equal(resolveParams({ method: 'vargrad', preset: 'xplique' }, 1).unbiased, true);
  assert.equal(resolveParams({ method: 'smoothdiff' }, 1).samples, 20);
  assert.equal(resolveParams({ method: 'smoothdiff' }, 1).noise, 0.1);
  // An explicit parameter beats the preset.
  assert.equal(resolveParams({ method: 'smoothgrad', preset: 'captum', samples: 9 }, 1).samples, 9);
});
