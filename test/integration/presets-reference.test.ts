// Every preset × method pair against a PyTorch/NumPy reimplementation of what the library's own
// default call returns (tools/fixtures/make_preset_fixtures.py): the networks, batch, targets and
// explicit noise block of test/fixtures/methods, so the noisy methods compare exactly.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeNpy } from '../../src/imaging/npy.js';
import { explain } from '../../src/methods/explain.js';
import { METHODS, type MethodParams, PRESETS } from '../../src/methods/params.js';
import { presetSpec } from '../../src/methods/presets.js';
import { type Tensor } from '../../src/methods/runner.js';
import { type OwnedContext, openModelContext } from '../../src/runtime/model-context.js';
import { perSample } from '../helpers/compare.js';
import { FIXTURES } from '../helpers/paths.js';

interface Case {
  name: string;
  params: MethodParams;
  expected: string;
  noisy: boolean;
}
interface Index {
  samples: number;
  models: { name: string; file: string; cases: Case[] }[];
}

const COSINE = 0.9999;
const REL_ERR = 1e-3;
const dir = join(FIXTURES, 'presets');
const methodsDir = join(FIXTURES, 'methods');
const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Index;
const load = (path: string): Tensor => {
  const { data, shape } = decodeNpy(readFileSync(path));
  return { data, dims: shape };
};
const TARGETS = [3, 7];

const contexts: Promise<OwnedContext>[] = [];
after(async () => {
  for (const c of await Promise.allSettled(contexts)) if (c.status === 'fulfilled') await c.value.close();
});

test('preset fixtures cover every method each preset supports', () => {
  for (const model of index.models) {
    for (const preset of PRESETS) {
      for (const method of METHODS) {
        const spec = presetSpec(preset, method);
        const covered = model.cases.some((c) => c.params.preset === preset && c.params.method === method);
        assert.equal(covered, spec.supported, `${model.name}: ${preset}/${method} supported=${spec.supported}, fixture ${covered ? 'present' : 'missing'}`);
      }
    }
  }
});

for (const model of index.models) {
  const ctx = openModelContext(join(dir, model.file), { threads: 1 });
  contexts.push(ctx);
  for (const c of model.cases) {
    test(`${model.name}: ${c.name} matches the library's default`, async () => {
      const x = load(join(methodsDir, 'x.npy'));
      const expected = load(join(dir, c.expected));
      const noise = c.noisy ? load(join(methodsDir, 'noise.npy')).data : undefined;
      const r = await explain(await ctx, { x, params: c.params, targets: TARGETS, noise });
      assert.deepEqual(r.attribution.dims, expected.dims);
      const stats = perSample(r.attribution.data, expected.data, 2);
      const detail = stats.map(({ cosine, relErr }, s) => `sample ${s}: cosine ${cosine}, relative L2 error ${relErr}`).join('; ');
      for (const { cosine, relErr } of stats) {
        assert.ok(cosine >= COSINE, `${c.name}: ${detail}`);
        assert.ok(relErr <= REL_ERR, `${c.name}: ${detail}`);
      }
    });
  }
}
