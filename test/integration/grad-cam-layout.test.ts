// Grad-CAM reads each layer's activation in the layout its shape says, not the input's: a
// tf2onnx-style NHWC model (Transposes around NCHW convolutions, NHWC tensors after them) against
// float64 PyTorch (tools/fixtures/make_nhwc_cam_fixture.py), through both Grad-CAM paths (the
// per-run one and the fused CAM-family graph of Grad-CAM++).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeNpy } from '../../src/imaging/npy.js';
import { explain } from '../../src/methods/explain.js';
import { activationLayout, camLayer } from '../../src/methods/grad-cam.js';
import { chooseCamLayer } from '../../src/models/inspect-model.js';
import { type MethodParams } from '../../src/methods/params.js';
import { type Tensor } from '../../src/methods/runner.js';
import { type OwnedContext, openModelContext } from '../../src/runtime/model-context.js';
import { perSample } from '../helpers/compare.js';
import { FIXTURES } from '../helpers/paths.js';

const dir = join(FIXTURES, 'nhwc-cam');
const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as {
  targets: number[];
  cases: { name: string; method: MethodParams['method']; layer: string; expected: string }[];
};
const load = (file: string): Tensor => {
  const { data, shape } = decodeNpy(readFileSync(join(dir, file)));
  return { data, dims: shape };
};

let ctx: Promise<OwnedContext> | undefined;
const context = () => (ctx ??= openModelContext(join(dir, 'model.onnx'), { threads: 1, layout: 'NHWC' }));
after(async () => (await ctx)?.close());

test('the activation layout comes from the shape: the spatial pair fits the input and its aspect ratio', () => {
  assert.equal(activationLayout([512, 7, 7], [224, 224], 'NHWC'), 'NCHW');
  assert.equal(activationLayout([7, 7, 1280], [224, 224], 'NCHW'), 'NHWC');
  assert.equal(activationLayout([6, 8, 5], [12, 16], 'NCHW'), 'NHWC');
  assert.equal(activationLayout([5, 6, 8], [12, 16], 'NHWC'), 'NCHW');
  // [N,4,4,4]: both readings fit, the input's layout decides.
  assert.equal(activationLayout([4, 4, 4], [16, 16], 'NHWC'), 'NHWC');
  assert.equal(activationLayout([4, 4, 4], [16, 16], 'NCHW'), 'NCHW');
});

test('the NHWC model: its CAM layers are read as [N,h,w,K]', async () => {
  const c = await context();
  assert.deepEqual(camLayer(c, undefined), { name: 'features', layout: 'NHWC', K: 5, h: 6, w: 8 });
  assert.deepEqual(camLayer(c, 'conv_relu'), { name: 'conv_relu', layout: 'NCHW', K: 5, h: 6, w: 8 });
  // What `models add` writes as gradCamLayer: the ReduceMean over axes 1, 2 is the global pooling.
  const choice = chooseCamLayer(c.model, c.facts, { size: [12, 16], layout: 'NHWC' });
  assert.equal(choice.layer, 'features', choice.note);
  assert.deepEqual(choice.shape, [6, 8, 5]);
});

for (const c of index.cases) {
  test(`${c.name} (layer ${c.layer}) matches PyTorch`, async () => {
    const x = load('x.npy');
    const expected = load(c.expected);
    const params = { method: c.method, layer: c.layer } as MethodParams;
    const result = await explain(await context(), { x, params, targets: index.targets });
    assert.deepEqual(result.attribution.dims, expected.dims);
    for (const [s, { cosine, relErr }] of perSample(result.attribution.data, expected.data, 2).entries()) {
      assert.ok(cosine > 0.9999 && relErr < 1e-4, `sample ${s}: cosine ${cosine}, relative error ${relErr}`);
    }
  });
}
