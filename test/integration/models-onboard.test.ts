// `saliency models add` and `models check` as a user runs them (a real process, real files in a
// temporary MODELS_DIR), then the service loading what they wrote and explaining with it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Manifest } from '../../src/models/manifest.js';
import { IMAGENET_LABELS } from '../../src/models/imagenet-labels.js';
import { selfCheck, THRESHOLDS } from '../../src/models/self-check.js';
import { contextForModel, openModelContext } from '../../src/runtime/model-context.js';
import { tinyClassifier, writeModel } from '../helpers/classifier-models.js';
import { json, submit, testImage } from '../helpers/http.js';
import { CLI, FIXTURES } from '../helpers/paths.js';
import { startService, type TestService } from '../helpers/service.js';

const work = mkdtempSync(join(tmpdir(), 'saliency-onboard-'));
const modelsDir = join(work, 'models');
mkdirSync(modelsDir);
after(() => rmSync(work, { recursive: true, force: true }));

const NHWC = writeModel(join(work, 'keras-style.onnx'), tinyClassifier({ layout: 'NHWC', size: 16, classes: 1000 }));
const SIN = writeModel(join(work, 'sine.onnx'), tinyClassifier({ layout: 'NCHW', size: 16, classes: 5, activation: 'Sin' }));
const RESNET = join(FIXTURES, 'models', 'resnet-basic-op17.onnx');
const VIT = join(FIXTURES, 'models', 'vit-op17.onnx');
const TINY = join(FIXTURES, 'service-models', 'tiny');
const QDQ = join(FIXTURES, 'rules', 'qdq-net.onnx');

function saliency(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ORT_THREADS: '1', CACHE_DIR: join(work, 'cache') } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const manifestOf = (id: string, dir = modelsDir) => JSON.parse(readFileSync(join(dir, id, 'manifest.json'), 'utf8')) as Manifest;
/** [along ∇, random directions] per point, as `models add` prints them. */
const selfCheckErrors = (stdout: string) =>
  [...stdout.matchAll(/relative error along ∇ ([0-9.e+-]+), along 3 random directions ([0-9.e+-]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);

describe('models add', () => {
  test('a torchvision ResNet export: NCHW 32×32, logits, Grad-CAM layer, self-check passes', () => {
    const r = saliency('models', 'add', RESNET, '--name', 'resnet', '--models-dir', modelsDir);
    assert.equal(r.code, 0, r.stderr);
    const m = manifestOf('resnet');
    assert.deepEqual([m.input.name, m.input.layout, m.input.channels, m.input.size], ['input', 'NCHW', 3, [32, 32]]);
    assert.deepEqual([m.output.name, m.output.kind], ['logits', 'logits']);
    assert.deepEqual(m.input.mean, [0.485, 0.456, 0.406]);
    // At 32×32 the pooled map is 1×1: the last larger activation (2×2) is the layer.
    assert.equal(m.gradCamLayer, '/layer3/layer3.0/relu_1/Relu_output_0');
    assert.equal(m.labels, undefined, '10 classes: no default labels');
    assert.match(r.stdout, /10 classes/);
    assert.match(r.stdout, /labels: none \(10 classes\)/);
    assert.match(r.stdout, /PASS/);
    const errors = selfCheckErrors(r.stdout);
    assert.equal(errors.length, 2);
    for (const [along, random] of errors)
      assert.ok((along as number) <= THRESHOLDS.gradient && (random as number) <= THRESHOLDS.random, `relative errors ${along}, ${random}`);
  });

  test('a ViT export: no 4-D activation before pooling, so no Grad-CAM layer and a note saying what to set', () => {
    const r = saliency('models', 'add', VIT, '--models-dir', modelsDir);
    assert.equal(r.code, 0, r.stderr);
    const m = manifestOf('vit-op17');
    assert.equal(m.gradCamLayer, undefined);
    assert.match(r.stdout, /no 4-D activation feeds a global pooling .*\/conv_proj\/Conv_output_0/);
    assert.match(r.stdout, /PASS/);
  });

  test('the service fixture with its own labels', () => {
    const r = saliency('models', 'add', join(TINY, 'model.onnx'), '--name', 'tiny-copy', '--labels', join(TINY, 'labels.txt'), '--models-dir', modelsDir);
    assert.equal(r.code, 0, r.stderr);
    const m = manifestOf('tiny-copy');
    assert.equal(m.labels, 'labels.txt');
    assert.deepEqual(
      readFileSync(join(modelsDir, 'tiny-copy', 'labels.txt'), 'utf8')
        .trim()
        .split('\n'),
      readFileSync(join(TINY, 'labels.txt'), 'utf8').trim().split('\n'),
    );
  });

  test('an NHWC model with 1000 classes: layout from the channel axis, the bundled ImageNet labels', () => {
    const r = saliency('models', 'add', NHWC, '--models-dir', modelsDir);
    assert.equal(r.code, 0, r.stderr);
    const m = manifestOf('keras-style');
    assert.deepEqual([m.input.layout, m.input.channels, m.input.size], ['NHWC', 3, [16, 16]]);
    assert.equal(m.gradCamLayer, 'features');
    const labels = readFileSync(join(modelsDir, 'keras-style', 'labels.txt'), 'utf8')
      .trim()
      .split('\n');
    assert.equal(labels.length, 1000);
    assert.deepEqual(labels, [...IMAGENET_LABELS]);
    assert.equal(labels[0], 'tench');
    assert.match(r.stdout, /the 1000 ImageNet classes/);
    assert.match(r.stdout, /NHWC models often come from TensorFlow/);
  });

  test('symbolic spatial dims take 224 by default, and the report says so', () => {
    const model = tinyClassifier({ layout: 'NCHW', size: 16, classes: 4 });
    const x = model.graph.inputs[0];
    if (x) x.dims = ['N', 3, 'H', 'W'];
    const path = writeModel(join(work, 'dynamic.onnx'), model);
    const r = saliency('models', 'add', path, '--models-dir', join(work, 'other'));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(manifestOf('dynamic', join(work, 'other')).input.size, [224, 224]);
    assert.match(r.stdout, /spatial size is symbolic .*using 224×224/);
  });

  const refusals: [string, () => string[], RegExp][] = [
    ['a missing file', () => [join(work, 'nope.onnx')], /nope\.onnx does not exist/],
    ['a file that is not ONNX', () => [join(FIXTURES, 'models', 'index.json')], /is not an ONNX model/],
    ['an op without a gradient rule', () => [SIN], /no gradient rule for 1 op type .*\n {2}Sin: 1 node, first n1_Sin\nwhat to do: /],
    ['an existing folder without --force', () => [RESNET, '--name', 'resnet'], /already exists; pass --force/],
    [
      'labels that do not match the classes',
      () => [RESNET, '--name', 'resnet-x', '--labels', join(TINY, '..', '..', 'models', 'index.json')],
      /labels but the model has 10 classes/,
    ],
  ];
  for (const [what, args, message] of refusals) {
    test(`refuses ${what} in a few short lines, and writes nothing`, () => {
      const r = saliency('models', 'add', ...args(), '--models-dir', modelsDir);
      assert.equal(r.code, 1, r.stdout);
      // The compiler's refusal is one line per op type and what to do; every other refusal is one line.
      assert.equal(r.stderr.trim().split('\n').length, what === 'an op without a gradient rule' ? 3 : 1, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(existsSync(join(modelsDir, 'sine')), false);
      assert.equal(existsSync(join(modelsDir, 'resnet-x')), false);
    });
  }

  test('a QDQ model: its straight-through gradient is stated, the graph without rounding is checked, exit 0 with a warning', () => {
    const dir = join(work, 'quantized');
    const r = saliency('models', 'add', QDQ, '--name', 'qdq', '--models-dir', dir);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /NOT CONFIRMED: .* expected for this model: its gradient is an approximation/);
    assert.match(r.stdout, /the same graph without rounding \(2 QuantizeLinear→DequantizeLinear pairs/);
    assert.match(r.stdout, /^ {2}PASS: worst /m);
    assert.match(r.stdout, /^warning: the gradient is the straight-through approximation/m);
    // After the model's own two points, the rounding-free graph's: those must pass.
    const errors = selfCheckErrors(r.stdout);
    assert.equal(errors.length, 4);
    for (const [along, random] of errors.slice(2))
      assert.ok((along as number) <= THRESHOLDS.gradient && (random as number) <= THRESHOLDS.random, `relative errors ${along}, ${random}`);
    // Rounding barely moves the activations here: the two gradients agree but for the ReLU kinks it flips.
    for (const m of r.stdout.matchAll(/straight-through gradient differs from this one by ([0-9.e+-]+)/g)) assert.ok(Number(m[1]) < 0.1, m[0]);

    const c = saliency('models', 'check', '--models-dir', dir);
    assert.equal(c.code, 0, c.stdout + c.stderr);
    assert.match(
      c.stdout,
      /^ok {4}qdq \[.*gradient: straight-through quantization\].*; without rounding: along ∇ .* — warning: the gradient is the straight-through approximation/,
    );
  });

  test('--force replaces an existing folder', () => {
    const r = saliency('models', 'add', RESNET, '--name', 'resnet', '--force', '--models-dir', modelsDir);
    assert.equal(r.code, 0, r.stderr);
  });
});

describe('models check', () => {
  test('one line per model, exit 0 when all pass', () => {
    const r = saliency('models', 'check', '--models-dir', modelsDir);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(
      lines.map((l) => l.split(/\s+/)[1]?.replace(/:$/, '')),
      ['keras-style', 'resnet', 'tiny-copy', 'vit-op17'],
    );
    for (const line of lines) assert.match(line, /^ok {4}\S+ \[dynamic batch, opset \d+\]: self-check relative error along ∇ /);
  });

  test('a broken folder fails with its reason and a non-zero exit code', () => {
    const dir = join(work, 'with-broken');
    cpSync(join(modelsDir, 'tiny-copy'), join(dir, 'tiny-copy'), { recursive: true });
    mkdirSync(join(dir, 'sine'));
    cpSync(SIN, join(dir, 'sine', 'model.onnx'));
    writeFileSync(join(dir, 'sine', 'manifest.json'), JSON.stringify({ input: { size: [16, 16] } }));
    const r = saliency('models', 'check', '--models-dir', dir);
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0] as string, /^FAIL {2}sine: SALIENCY_MODEL_UNSUPPORTED: no gradient rule for 1 op type .*; Sin: 1 node, first n1_Sin; what to do: /);
    assert.match(lines[1] as string, /^ok {4}tiny-copy/);
  });
});

describe('the self-check', () => {
  /** The context with its forward pass (what the differences are taken of) changed by `change`. */
  async function withForward(change: (logits: Float32Array, x: Float32Array) => Float32Array) {
    const ctx = await contextForModel(tinyClassifier({ layout: 'NCHW', size: 8, classes: 3 }), { threads: 1 });
    const changed: typeof ctx = {
      ...ctx,
      sessions: async (key, build) => {
        const runner = await ctx.sessions(key, build);
        if (key !== 'forward') return runner;
        return {
          run: async (feeds, fetches) => {
            const out = await runner.run(feeds, fetches);
            const x = feeds[ctx.input]?.data as Float32Array;
            return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, { data: change(t.data, x), dims: t.dims }]));
          },
        };
      },
    };
    return { ctx, changed };
  }

  test('passes the compiled gradient of a ReLU net', async () => {
    const { ctx } = await withForward((l) => l);
    try {
      const r = await selfCheck(ctx);
      assert.ok(r.passed, JSON.stringify(r.worst));
      assert.ok(r.worst.gradient < THRESHOLDS.gradient / 3 && r.worst.random < THRESHOLDS.random / 3, JSON.stringify(r.worst));
    } finally {
      await ctx.close();
    }
  });

  test('fails a gradient 10% too small', async () => {
    const { ctx, changed } = await withForward((l) => l.map((v) => 1.1 * v));
    try {
      const r = await selfCheck(changed);
      assert.equal(r.passed, false);
      assert.ok(Math.abs(r.worst.gradient - 0.1) < 0.01, JSON.stringify(r.worst));
    } finally {
      await ctx.close();
    }
  });

  test('a QDQ model fails when the graph without rounding disagrees with its gradient too', async () => {
    const ctx = await openModelContext(QDQ, { threads: 1 });
    // Both forward passes (the model's and the rounding-free graph's) 10% larger than their gradients.
    const changed: typeof ctx = {
      ...ctx,
      sessions: async (key, build) => {
        const runner = await ctx.sessions(key, build);
        if (!key.endsWith('forward')) return runner;
        return {
          run: async (feeds, fetches) =>
            Object.fromEntries(Object.entries(await runner.run(feeds, fetches)).map(([k, t]) => [k, { data: t.data.map((v) => 1.1 * v), dims: t.dims }])),
        };
      },
    };
    try {
      const r = await selfCheck(changed, { approximations: ['straight-through quantization'] });
      assert.equal(r.verdict, 'fail');
      const w = r.withoutRounding;
      assert.ok(w && 'check' in w, JSON.stringify(w));
      assert.equal(w.check.passed, false);
      assert.ok(Math.abs(w.check.worst.gradient - 0.1) < 0.01, JSON.stringify(w.check.worst));
      const plain = await selfCheck(ctx, { approximations: ['straight-through quantization'] });
      assert.equal(plain.verdict, 'approximate');
      assert.equal(plain.passed, false);
    } finally {
      await ctx.close();
    }
  });

  test('fails a gradient missing a term (the true one has an extra 0.5·Σ x over the first channel)', async () => {
    const { ctx, changed } = await withForward((l, x) => {
      const per = x.length / (l.length / 3);
      const out = new Float32Array(l);
      for (let b = 0; b < l.length / 3; b++) {
        let s = 0;
        for (let i = 0; i < per / 3; i++) s += x[b * per + i] as number;
        for (let k = 0; k < 3; k++) out[b * 3 + k] = (out[b * 3 + k] as number) + 0.5 * s;
      }
      return out;
    });
    try {
      const r = await selfCheck(changed);
      assert.equal(r.passed, false);
      assert.ok(r.worst.random > THRESHOLDS.random, JSON.stringify(r.worst));
    } finally {
      await ctx.close();
    }
  });
});

describe('the service serves and explains what models add wrote', () => {
  let service: TestService;
  before(async () => {
    service = await startService('embedded', { MODELS_DIR: modelsDir, CACHE_DIR: join(work, 'cache') });
  });
  after(() => service.close());

  const cases: [string, Record<string, string>][] = [
    ['resnet', { method: 'gradient' }],
    ['resnet', { method: 'grad-cam' }],
    ['vit-op17', { method: 'integrated-gradients', steps: '4' }],
    ['tiny-copy', { method: 'smoothgrad', samples: '2' }],
    ['keras-style', { method: 'gradient' }],
  ];
  for (const [model, params] of cases) {
    test(`${model}: ${params['method']}`, async () => {
      const image = await testImage(40, 30);
      const r = await submit(service.url, { model, ...params }, [{ field: 'image', bytes: image, name: 'a.png' }], '?wait=60');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const e = (r.body['explanations'] as { status: string; prediction?: { label?: string } }[])[0];
      assert.equal(e?.status, 'completed', JSON.stringify(r.body));
      if (model === 'keras-style') assert.ok(IMAGENET_LABELS.includes(e?.prediction?.label as string));
    });
  }

  test('GET /v1/models/:id describes an added model', async () => {
    const m = await json(await fetch(`${service.url}/v1/models/keras-style`));
    assert.equal(m.status, 200);
    assert.equal(m.body['status'], 'ready');
    assert.equal(m.body['classes'], 1000);
    assert.deepEqual((m.body['input'] as { layout: string }).layout, 'NHWC');
  });
});
