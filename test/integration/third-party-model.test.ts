// A classifier nothing here exported: PaddleOCR's text-direction classifier as paddle2onnx wrote
// it (opset 9, symbolic H and W, weights as Constant nodes, Softmax output), shipped inside an npm
// package (test/fixtures/third-party/NOTICE.md). `models add` onboards it, and its gradient
// matches a float64 evaluation of the ONNX graph in PyTorch.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeNpy } from '../../src/imaging/npy.js';
import { explain } from '../../src/methods/explain.js';
import { addModel } from '../../src/models/onboard.js';
import { openModelContext } from '../../src/runtime/model-context.js';
import { perSample } from '../helpers/compare.js';
import { FIXTURES } from '../helpers/paths.js';

const dir = join(FIXTURES, 'third-party');
const MODEL = join(dir, 'ppocr-cls.onnx');
const npy = (file: string) => decodeNpy(readFileSync(join(dir, file)));
const work = mkdtempSync(join(tmpdir(), 'saliency-third-party-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('models add: an opset-9 paddle2onnx classifier with a symbolic size', async () => {
  const r = await addModel({ path: MODEL, modelsDir: work, size: [48, 192], open: (p, o) => openModelContext(p, { ...o, threads: 1 }) });
  assert.equal(r.classes, 2);
  assert.equal(r.manifest.output.kind, 'probabilities');
  assert.equal(r.compile.explained, 'p2o.Add.87');
  assert.deepEqual(r.facts.opset.file, 9);
  assert.equal(r.facts.batching, 'dynamic');
  assert.ok(r.check.passed, JSON.stringify(r.check.worst));
});

test('its gradient matches the float64 evaluation of the ONNX graph', async () => {
  const x = npy('ppocr-cls.x.npy');
  const ref = npy('ppocr-cls.grad.npy');
  const ctx = await openModelContext(MODEL, { threads: 1, inputShape: x.shape.slice(1) });
  try {
    const r = await explain(ctx, { x: { data: x.data, dims: x.shape }, params: { method: 'gradient' }, targets: [0, 1] });
    for (const s of perSample(r.attribution.data, ref.data, 2)) {
      assert.ok(s.cosine >= 0.9999, `cosine ${s.cosine}`);
      assert.ok(s.relErr <= 1e-3, `relative error ${s.relErr}`);
    }
    const cam = await explain(ctx, { x: { data: x.data, dims: x.shape }, params: { method: 'grad-cam' }, targets: [0, 1] });
    assert.deepEqual(cam.attribution.dims, [2, 1, 48, 192]);
  } finally {
    await ctx.close();
  }
});
