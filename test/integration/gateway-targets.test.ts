// Several targets in one job and the CAM family through real HTTP (embedded runner): one map per
// class, picked with ?target= on every rendering; a single target behaves as before.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { decodeNpy } from '../../src/imaging/npy.js';
import { type Json, json, submit, testImage } from '../helpers/http.js';
import { type TestService, startService } from '../helpers/service.js';

type Explanation = Record<string, unknown> & { id: string; status: string; links: Record<string, string> };
const first = (r: Json) => (r.body['explanations'] as Explanation[])[0] as Explanation;
const code = (r: Json) => (r.body['error'] as { code: string } | undefined)?.code;

let service: TestService;
let image: Buffer;
before(async () => {
  service = await startService('embedded');
  image = await testImage();
});
after(async () => service.close());
const png = () => [{ field: 'image', bytes: image, name: 'a.png' }];

test('targets=3,seven: one job, one map per class in the order asked, each rendered with ?target=', async () => {
  const r = await submit(service.url, { method: 'smoothgrad', samples: '4', seed: '3', targets: '3,seven' }, png(), '?wait=30');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const e = first(r);
  const maps = e['targets'] as { index: number; label: string; min: number; max: number; score: number }[];
  assert.deepEqual(
    maps.map((m) => m.index),
    [3, 7],
  );
  assert.equal(maps[1]?.label, 'seven');
  assert.deepEqual((e['attribution'] as { shape: number[] }).shape, [2, 3, 32, 32]);
  assert.equal((e['prediction'] as { target: number }).target, 3);
  const all = decodeNpy(new Uint8Array(await (await fetch(`${service.url}${e.links['attribution']}`)).arrayBuffer()));
  assert.deepEqual(all.shape, [2, 3, 32, 32]);
  const seven = decodeNpy(new Uint8Array(await (await fetch(`${service.url}${e.links['attribution']}?target=7`)).arrayBuffer()));
  assert.deepEqual(seven.shape, [1, 3, 32, 32]);
  assert.deepEqual(seven.data, all.data.subarray(all.data.length / 2));
  // The same class alone, same seed: the same map.
  const alone = first(await submit(service.url, { method: 'smoothgrad', samples: '4', seed: '3', target: '7' }, png(), '?wait=30'));
  const single = decodeNpy(new Uint8Array(await (await fetch(`${service.url}${alone.links['attribution']}`)).arrayBuffer()));
  assert.deepEqual(single.data, seven.data);
  const heat3 = await fetch(`${service.url}${e.links['heatmap']}?target=3&size=input`);
  const heat7 = await fetch(`${service.url}${e.links['heatmap']}?target=seven&size=input`);
  assert.equal(heat3.status, 200);
  assert.equal(heat7.status, 200);
  assert.notDeepEqual(Buffer.from(await heat3.arrayBuffer()), Buffer.from(await heat7.arrayBuffer()));
  const map = await json(await fetch(`${service.url}${e.links['map']}?target=7`));
  assert.equal(map.status, 200);
  const wrong = await json(await fetch(`${service.url}${e.links['heatmap']}?target=5`));
  assert.equal(wrong.status, 400);
  assert.equal(code(wrong), 'SALIENCY_BAD_RENDER_PARAM');
});

test('targets=top-3: the three largest logits, in order', async () => {
  const e = first(await submit(service.url, { method: 'gradient', targets: 'top-3' }, png(), '?wait=30'));
  const maps = e['targets'] as { index: number; logit: number }[];
  const top5 = (e['prediction'] as { top5: { index: number }[] }).top5;
  assert.deepEqual(
    maps.map((m) => m.index),
    top5.slice(0, 3).map((c) => c.index),
  );
  assert.deepEqual((e['attribution'] as { shape: number[] }).shape, [3, 3, 32, 32]);
});

test('a single target is unchanged: no targets list, ?target= refused', async () => {
  const e = first(await submit(service.url, { method: 'gradient', target: '3' }, png(), '?wait=30'));
  assert.equal(e['targets'], undefined);
  assert.deepEqual((e['attribution'] as { shape: number[] }).shape, [1, 3, 32, 32]);
  assert.equal((await json(await fetch(`${service.url}${e.links['heatmap']}?target=3`))).status, 400);
});

test('bad several-target requests get 400 with a code', async () => {
  const cases: [Record<string, string>, string][] = [
    [{ method: 'gradient', targets: '3', target: '3' }, 'SALIENCY_VALIDATION'],
    [{ method: 'gradient', targets: '3,3' }, 'SALIENCY_BAD_TARGET'],
    [{ method: 'gradient', targets: 'top-0' }, 'SALIENCY_BAD_TARGET'],
    [{ method: 'gradient', targets: '3,nope' }, 'SALIENCY_BAD_TARGET'],
    // 100 samples × 50 steps alone are within MAX_JOB_POINTS (20000); × 10 classes they are not.
    [{ method: 'smoothgrad', base: 'integrated-gradients', samples: '100', steps: '50', targets: '0,1,2,3,4,5,6,7,8,9' }, 'SALIENCY_LIMIT_EXCEEDED'],
    [{ method: 'vargrad', base: 'grad-cam' }, 'SALIENCY_VALIDATION'],
  ];
  for (const [fields, want] of cases) {
    const r = await submit(service.url, fields, png());
    assert.equal(r.status, 400, `${JSON.stringify(fields)}: ${JSON.stringify(r.body)}`);
    assert.equal(code(r), want, JSON.stringify(fields));
  }
});

test('the CAM family over HTTP: Smooth Grad-CAM, Grad-CAM++, Smooth Grad-CAM++', async () => {
  const cams: Record<string, string>[] = [
    { method: 'smoothgrad', base: 'grad-cam', samples: '3' },
    { method: 'grad-cam-plus-plus' },
    { method: 'smooth-grad-cam-plus-plus', samples: '3' },
  ];
  for (const fields of [
    { method: 'noisegrad', models: '2', weightNoise: '0.1', head: 'false' },
    { method: 'fusiongrad', models: '2', samples: '2' },
    { method: 'adaptgrad', samples: '3', confidence: '0.9' },
  ] as Record<string, string>[]) {
    const r = await submit(service.url, fields, png(), '?wait=30');
    assert.equal(first(r).status, 'completed', JSON.stringify(r.body));
    assert.deepEqual((first(r)['attribution'] as { shape: number[] }).shape, [1, 3, 32, 32]);
  }
  for (const fields of cams) {
    const r = await submit(service.url, fields, png(), '?wait=30');
    const e = first(r);
    assert.equal(e.status, 'completed', JSON.stringify(r.body));
    assert.deepEqual((e['attribution'] as { shape: number[] }).shape, [1, 1, 32, 32]);
    assert.equal(typeof (e['attribution'] as { layer: string }).layer, 'string');
  }
  const methods = await json(await fetch(`${service.url}/v1/methods`));
  const names = (methods.body['methods'] as { name: string }[]).map((m) => m.name);
  for (const m of ['grad-cam-plus-plus', 'smooth-grad-cam-plus-plus']) assert.ok(names.includes(m), m);
});

test('metrics=…: computed with the explanation, in the job and in map.json; bad requests get 400', async () => {
  const r = await submit(
    service.url,
    { method: 'gradient', target: '3', metrics: 'sparseness,complexity,pixel-flipping,random-logit', flip_steps: '4', imputation: 'mean' },
    png(),
    '?wait=30',
  );
  const e = first(r);
  assert.equal(e.status, 'completed', JSON.stringify(r.body));
  const m = e['metrics'] as {
    sparseness: number;
    complexity: number;
    pixelFlipping: { steps: number; imputation: string; morf: number[]; lerf: number[]; srg: number };
    randomLogit: { class: number; ssim: number };
  };
  assert.equal(typeof m.sparseness, 'number');
  assert.equal(typeof m.complexity, 'number');
  assert.equal(m.pixelFlipping.steps, 4);
  assert.equal(m.pixelFlipping.imputation, 'mean');
  assert.equal(m.pixelFlipping.morf.length, 5);
  assert.notEqual(m.randomLogit.class, 3);
  const map = await json(await fetch(`${service.url}${e.links['map']}`));
  assert.deepEqual(map.body['metrics'], m);
  const plain = first(await submit(service.url, { method: 'gradient' }, png(), '?wait=30'));
  assert.equal(plain['metrics'], undefined);
  const methods = await json(await fetch(`${service.url}/v1/methods`));
  const listed = (methods.body['metrics'] as { values: { name: string; cost: string }[] }).values.map((v) => v.name);
  assert.deepEqual(listed, ['sparseness', 'complexity', 'pixel-flipping', 'random-logit']);
  const bads: Record<string, string>[] = [
    { metrics: 'beauty' },
    { metrics: 'sparseness', flip_steps: '4' },
    { metrics: 'pixel-flipping', flip_steps: '0' },
    { metrics: 'pixel-flipping', imputation: 'noise' },
    { flip_steps: '4' },
  ];
  for (const fields of bads) {
    const bad = await submit(service.url, { method: 'gradient', ...fields }, png());
    assert.equal(bad.status, 400, JSON.stringify(fields));
    assert.equal(code(bad), 'SALIENCY_VALIDATION', JSON.stringify(fields));
  }
});

test('metrics with several targets: one set per class in the job, in map.json and in the histograms', async () => {
  const r = await submit(
    service.url,
    { method: 'smoothgrad', samples: '3', seed: '11', targets: '3,seven', metrics: 'sparseness,pixel-flipping,random-logit', flip_steps: '3' },
    png(),
    '?wait=30',
  );
  const e = first(r);
  assert.equal(e.status, 'completed', JSON.stringify(r.body));
  const maps = e['targets'] as { index: number; metrics: { sparseness: number; pixelFlipping: { morf: number[] }; randomLogit: { class: number } } }[];
  assert.equal(maps.length, 2);
  for (const m of maps) {
    assert.equal(typeof m.metrics.sparseness, 'number');
    assert.equal(m.metrics.pixelFlipping.morf.length, 4);
    assert.notEqual(m.metrics.randomLogit.class, m.index);
  }
  assert.notDeepEqual(maps[0]?.metrics, maps[1]?.metrics);
  // The job's own metrics stay those of its first target.
  assert.deepEqual(e['metrics'], maps[0]?.metrics);
  // Each class alone, same seed, gets the same metrics.
  const alone = first(
    await submit(
      service.url,
      { method: 'smoothgrad', samples: '3', seed: '11', target: '7', metrics: 'sparseness,pixel-flipping,random-logit', flip_steps: '3' },
      png(),
      '?wait=30',
    ),
  );
  assert.deepEqual(alone['metrics'], maps[1]?.metrics);
  assert.deepEqual((await json(await fetch(`${service.url}${e.links['map']}?target=seven`))).body['metrics'], maps[1]?.metrics);
  assert.deepEqual((await json(await fetch(`${service.url}${e.links['map']}`))).body['metrics'], maps[0]?.metrics);
  // Prometheus: one observation per class (two classes) plus the single-target job's one.
  const text = await (await fetch(`${service.url}/metrics`)).text();
  const count = /saliency_explanation_sparseness_count\{[^}]*method="smoothgrad"[^}]*\} (\d+)/.exec(text);
  assert.equal(
    count?.[1],
    '3',
    text
      .split('\n')
      .filter((l) => l.includes('sparseness_count'))
      .join('\n'),
  );
});
