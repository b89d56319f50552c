// Models exported with a constant batch size (torch.onnx.export without dynamic_axes): every
// method serves a request of two images. forms-fixed1-* (forms-fixed2-*) bake the batch of 1 (2) only into a Reshape
// shape, so the loader makes the batch symbolic ('dynamic'); forms-baked1-* also expand a learned
// plane to a constant batch of 1, so the graph only runs at batch 1 ('fixed') and the methods run
// it one point at a time. Gradients against float64 PyTorch (tools/fixtures/make_opset_fixtures.py).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeNpy } from '../../src/imaging/npy.js';
import { explain } from '../../src/methods/explain.js';
import { type MethodParams } from '../../src/methods/params.js';
import { type OwnedContext, openModelContext } from '../../src/runtime/model-context.js';
import { perSample } from '../helpers/compare.js';
import { FIXTURES } from '../helpers/paths.js';

const dir = join(FIXTURES, 'opsets');
const npy = (file: string) => decodeNpy(readFileSync(join(dir, file)));

interface Fixture {
  name: string;
  file: string;
  variant: string;
  grad: string;
  targets: number[];
  fp32VsFp64RelErr: number;
  bakedBeyondReshape?: boolean;
}
const fixtures = (JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { forms: Fixture[] }).forms.filter((f) => f.variant === 'fixed-batch');

const METHODS: MethodParams[] = [
  { method: 'gradient' },
  { method: 'gradient-x-input' },
  { method: 'integrated-gradients', steps: 8 },
  { method: 'smoothgrad', samples: 3 },
  { method: 'smoothgrad', base: 'integrated-gradients', samples: 2, steps: 2 },
  { method: 'smoothgrad-squared', samples: 3 },
  { method: 'vargrad', samples: 3 },
  { method: 'smoothdiff', samples: 3 },
  { method: 'guided-backprop' },
  { method: 'grad-cam', relu: false },
  { method: 'guided-grad-cam', relu: false },
  { method: 'smoothgrad', base: 'grad-cam', samples: 3, relu: false },
  { method: 'grad-cam-plus-plus', relu: false },
  { method: 'smooth-grad-cam-plus-plus', samples: 3, relu: false },
  { method: 'adaptgrad', samples: 3 },
  { method: 'noisegrad', models: 2 },
  { method: 'fusiongrad', models: 2, samples: 2 },
];

const contexts: Promise<OwnedContext>[] = [];
after(async () => {
  for (const c of await Promise.allSettled(contexts)) if (c.status === 'fulfilled') await c.value.close();
});

test('fixed-batch fixtures: one the loader makes symbolic, one that stays fixed', () => {
  assert.ok(fixtures.some((f) => !f.bakedBeyondReshape));
  assert.ok(fixtures.some((f) => f.bakedBeyondReshape));
});

for (const f of fixtures) {
  const ctxOf = (() => {
    let ctx: Promise<OwnedContext> | undefined;
    return () => {
      if (!ctx) contexts.push((ctx = openModelContext(join(dir, f.file), { threads: 1 })));
      return ctx;
    };
  })();
  const x = npy('forms.x.npy');
  const input = { data: x.data, dims: x.shape };

  test(`${f.name}: batching is ${f.bakedBeyondReshape ? 'fixed' : 'dynamic'}`, async () => {
    const ctx = await ctxOf();
    assert.equal(ctx.fixedBatch, f.bakedBeyondReshape ? 1 : undefined);
  });

  test(`${f.name}: the gradient of a batch of 2 matches float64 PyTorch`, async () => {
    const ctx = await ctxOf();
    const r = await explain(ctx, { x: input, params: { method: 'gradient' }, targets: f.targets });
    const bound = Math.max(1e-3, 2 * f.fp32VsFp64RelErr);
    perSample(r.attribution.data, npy(f.grad).data, 2).forEach(({ cosine, relErr }, s) => {
      assert.ok(cosine >= 0.9999 && relErr <= bound, `${f.name} sample ${s}: cosine ${cosine}, relative L2 error ${relErr}`);
    });
    // One image: a batch size other than the file's own (2 for forms-fixed2).
    const size = x.data.length / 2;
    const one = await explain(ctx, {
      x: { data: x.data.subarray(0, size), dims: [1, ...x.shape.slice(1)] },
      params: { method: 'gradient' },
      targets: [f.targets[0] as number],
    });
    const [first] = perSample(one.attribution.data, npy(f.grad).data.subarray(0, size), 1);
    assert.ok(first && first.cosine >= 0.9999 && first.relErr <= bound, `${f.name} one image: ${JSON.stringify(first)}`);
    // Targets picked in the run (argmax) must be those of the logits it returns.
    const picked = await explain(ctx, { x: input, params: { method: 'gradient' } });
    assert.equal(picked.targets.length, 2);
  });

  for (const params of METHODS) {
    const label = `${params.method}${params.base ? ` over ${params.base}` : ''}`;
    test(`${f.name}: ${label} serves a batch of 2`, async () => {
      const ctx = await ctxOf();
      const run = explain(ctx, { x: input, params: { ...params, seed: 5 }, targets: f.targets });
      if (params.method === 'smoothdiff' && f.bakedBeyondReshape) {
        await assert.rejects(run, /SmoothDiff needs a model that runs at any batch size/);
        return;
      }
      const r = await run;
      assert.equal(r.attribution.dims[0], 2);
      assert.ok(r.attribution.data.every(Number.isFinite));
      for (let s = 0; s < 2; s++) {
        const n = r.attribution.data.length / 2;
        assert.ok(
          r.attribution.data.subarray(s * n, (s + 1) * n).some((v) => v !== 0),
          `${label}: sample ${s} is all zeros`,
        );
      }
    });
  }
}
