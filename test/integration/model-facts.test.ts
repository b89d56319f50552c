// What the service states about how it runs a model (GET /v1/models/:id and `saliency models add`):
// batching, opset as declared and as run, float32 with the stored element type, and the
// straight-through note of QDQ models. And Grad-CAM on an NHWC model: the map has the input's
// H×W (not W×C) and its heatmap renders.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { type AddReport, addModel, formatAddReport } from '../../src/models/onboard.js';
import { openModelContext } from '../../src/runtime/model-context.js';
import { tinyClassifier, writeModel } from '../helpers/classifier-models.js';
import { json, submit, testImage } from '../helpers/http.js';
import { FIXTURES } from '../helpers/paths.js';
import { type TestService, startService } from '../helpers/service.js';

const work = mkdtempSync(join(tmpdir(), 'saliency-facts-'));
const modelsDir = join(work, 'models');
const MODELS = {
  baked: join(FIXTURES, 'opsets', 'forms-baked1-op17.onnx'),
  op9: join(FIXTURES, 'opsets', 'forms-op9.onnx'),
  fp16: join(FIXTURES, 'rules', 'fp16-net.onnx'),
  qdq: join(FIXTURES, 'rules', 'qdq-net.onnx'),
  // Not square, so [H,W] and [W,C] cannot be confused by accident.
  nhwc: writeModel(join(work, 'nhwc.onnx'), tinyClassifier({ layout: 'NHWC', size: 12, classes: 4 })),
};
const reports = new Map<string, AddReport>();
let service: TestService | undefined;

before(async () => {
  for (const [name, path] of Object.entries(MODELS)) {
    const report = await addModel({ path, modelsDir, name, open: (p, o) => openModelContext(p, { ...o, threads: 1 }) });
    reports.set(name, report);
  }
  service = await startService('embedded', { MODELS_DIR: modelsDir, CACHE_DIR: join(work, 'cache') }, { checkModels: true });
});
after(async () => {
  await service?.close();
  rmSync(work, { recursive: true, force: true });
});

const model = async (id: string) => {
  const r = await json(await fetch(`${(service as TestService).url}/v1/models/${id}`));
  assert.equal(r.status, 200);
  assert.equal(r.body['status'], 'ready', JSON.stringify(r.body));
  return r.body;
};

test('a graph that bakes its batch in is stated as fixed, one point per run', async () => {
  const body = await model('baked');
  assert.equal(body['batching'], 'fixed');
  assert.equal(body['fixedBatch'], 1);
  assert.deepEqual(body['opset'], { file: 17, run: 17 });
  assert.equal(reports.get('baked')?.facts.batching, 'fixed');
  assert.match(formatAddReport(reports.get('baked') as AddReport, modelsDir), /batch +fixed at 1/);
  const list = (await json(await fetch(`${(service as TestService).url}/v1/models`))).body['models'] as { id: string; batching?: string }[];
  assert.equal(list.find((m) => m.id === 'baked')?.batching, 'fixed');
  assert.equal(list.find((m) => m.id === 'op9')?.batching, 'dynamic');
});

test('an opset-9 file states the opset it declares and the one it runs at', async () => {
  const body = await model('op9');
  const opset = body['opset'] as { file: number; run: number };
  assert.equal(opset.file, 9);
  assert.ok(opset.run > 9, JSON.stringify(opset));
  assert.match(formatAddReport(reports.get('op9') as AddReport, modelsDir), /runs at +opset \d+ \(the file declares 9/);
});

test('a float16 model computes in float32 and says what it stores', async () => {
  const body = await model('fp16');
  assert.equal(body['computesIn'], 'float32');
  assert.deepEqual(body['storedAs'], ['float16']);
  const plain = await model('op9');
  assert.equal(plain['computesIn'], 'float32');
  assert.equal(plain['storedAs'], undefined);
  assert.match(formatAddReport(reports.get('fp16') as AddReport, modelsDir), /computes +float32 \(the file stores float16\)/);
});

test('a QDQ model states its straight-through gradient', async () => {
  const body = await model('qdq');
  const approximations = body['approximations'] as string[];
  assert.equal(approximations.length, 1);
  assert.match(approximations[0] as string, /straight-through/);
  assert.equal((await model('op9'))['approximations'], undefined);
  assert.match(formatAddReport(reports.get('qdq') as AddReport, modelsDir), /gradient +straight-through/);
});

test('Grad-CAM on an NHWC model: an H×W map whose heatmap renders', async () => {
  const url = (service as TestService).url;
  assert.equal((await model('nhwc'))['input'] && ((await model('nhwc'))['input'] as { layout: string }).layout, 'NHWC');
  for (const method of ['grad-cam', 'guided-grad-cam']) {
    const r = await submit(url, { model: 'nhwc', method }, [{ field: 'image', bytes: await testImage(40, 30), name: 'a.png' }], '', { prefer: 'wait=30' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const e = (r.body['explanations'] as { status: string; attribution?: { shape: number[] }; links: Record<string, string> }[])[0];
    assert.equal(e?.status, 'completed', JSON.stringify(r.body));
    assert.deepEqual(e?.attribution?.shape, method === 'grad-cam' ? [1, 1, 12, 12] : [1, 12, 12, 3]);
    const heat = await fetch(`${url}${e?.links['heatmap']}?size=input`);
    assert.equal(heat.status, 200);
    const meta = await sharp(Buffer.from(await heat.arrayBuffer())).metadata();
    assert.deepEqual([meta.width, meta.height], [12, 12]);
  }
});
