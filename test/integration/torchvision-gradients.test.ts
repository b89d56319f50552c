// Input gradients of every torchvision family (reduced width, several opsets) against PyTorch
// autograd: fixtures from tools/fixtures/make_gradient_fixtures.py, batch of 2, distinct targets.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeNpy } from '../../src/imaging/npy.js';
import { inputGradient } from '../../src/gradgraph/index.js';
import { oneHotSeed } from '../../src/methods/targets.js';
import { compileSession, loadModel } from '../../src/runtime/gradient-model.js';
import { perSample } from '../helpers/compare.js';
import { FIXTURES } from '../helpers/paths.js';

interface Fixture {
  name: string;
  file: string;
  opset: number;
  targets: number[];
  smooth: boolean;
}

const dir = join(FIXTURES, 'models');
const fixtures = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Fixture[];

test('fixtures cover every torchvision family', () => {
  const families = [
    'resnet',
    'vgg',
    'densenet',
    'mobilenet-v2',
    'mobilenet-v3',
    'efficientnet',
    'regnet',
    'shufflenet',
    'squeezenet',
    'googlenet',
    'inception',
    'mnasnet',
    'convnext',
    'vit',
    'swin',
    'maxvit',
  ];
  for (const family of families)
    assert.ok(
      fixtures.some((f) => f.name.startsWith(family)),
      `no fixture for ${family}`,
    );
});

for (const fixture of fixtures) {
  test(`gradient of ${fixture.name} matches PyTorch autograd`, async () => {
    const x = decodeNpy(readFileSync(join(dir, `${fixture.name}.x.npy`)));
    const expected = decodeNpy(readFileSync(join(dir, `${fixture.name}.grad.npy`)));
    const logits = decodeNpy(readFileSync(join(dir, `${fixture.name}.logits.npy`)));
    const loaded = await loadModel(join(dir, fixture.file), { threads: 1 });
    const { compiled, session } = await compileSession(loaded, { threads: 1 });
    try {
      const seed = oneHotSeed(fixture.targets, logits.shape[1] as number);
      const out = await session.run({ [compiled.input]: { data: x.data, dims: x.shape }, [compiled.seed]: seed });
      const grad = out[inputGradient(compiled)];
      assert.ok(grad);
      assert.deepEqual(grad.dims, x.shape);
      const bound = fixture.smooth ? 1e-5 : 1e-3;
      perSample(grad.data, expected.data, 2).forEach(({ cosine, relErr }, s) => {
        const detail = `${fixture.name} sample ${s}: cosine ${cosine}, relative L2 error ${relErr}`;
        assert.ok(cosine >= 0.9999, detail);
        assert.ok(relErr <= bound, detail);
      });
    } finally {
      await session.release();
    }
  });
}
