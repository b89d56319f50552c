// The `saliency` command as a user runs it: a real process, real files.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { decodeNpy, encodeNpy } from '../../src/imaging/npy.js';
import { renderHeatmap } from '../../src/imaging/render.js';
import { resolveRenderOptions } from '../../src/imaging/render-options.js';
import { perSample } from '../helpers/compare.js';
import { testImage } from '../helpers/http.js';
import { CLI, FIXTURES } from '../helpers/paths.js';

const work = mkdtempSync(join(tmpdir(), 'saliency-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));

const MODEL = join(FIXTURES, 'models', 'resnet-basic-op17.onnx');
const X = join(FIXTURES, 'models', 'resnet-basic-op17.x.npy');

function saliency(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('compile writes a gradient model and prints a one-line summary', () => {
  const out = join(work, 'g.onnx');
  const r = saliency('compile', '--model', MODEL, '--output', out);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 1);
  assert.match(r.stdout, /nodes added/);
  assert.match(r.stdout, /inputs: input, seed; outputs: logits, grad_input/);
  assert.ok(readFileSync(out).length > 1000);
});

test('explain with per-sample targets reproduces the PyTorch gradient', () => {
  const out = join(work, 'a.npy');
  const r = saliency('explain', '--model', MODEL, '--input', X, '--method', 'gradient', '--target', '3,7', '--output', out);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { targets: number[]; top5: { index: number }[][]; timings_ms: Record<string, number> };
  assert.deepEqual(report.targets, [3, 7]);
  assert.equal(report.top5.length, 2);
  assert.equal(report.top5[0]?.length, 5);
  assert.ok('compute' in report.timings_ms);
  const grad = decodeNpy(readFileSync(out));
  const expected = decodeNpy(readFileSync(join(FIXTURES, 'models', 'resnet-basic-op17.grad.npy')));
  assert.deepEqual(grad.shape, expected.shape);
  for (const { cosine } of perSample(grad.data, expected.data, 2)) assert.ok(cosine > 0.9999);
});

test('explain defaults to the argmax target of each sample', () => {
  const r = saliency('explain', '--model', MODEL, '--input', X, '--output', join(work, 'b.npy'));
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { targets: number[]; top5: { index: number }[][] };
  assert.deepEqual(
    report.targets,
    report.top5.map((t) => t[0]?.index),
  );
});

const bad: [string, () => string[], RegExp][] = [
  ['a missing model file', () => ['explain', '--model', join(work, 'nope.onnx'), '--input', X, '--output', join(work, 'c.npy')], /does not exist/],
  ['a file that is not ONNX', () => ['compile', '--model', X, '--output', join(work, 'd.onnx')], /not an ONNX model/],
  [
    'an input that is not float32',
    () => {
      const path = join(work, 'f64.npy');
      const bytes = Buffer.from(encodeNpy({ data: new Float32Array(4), shape: [4] }));
      writeFileSync(path, Buffer.from(bytes.toString('latin1').replace("'<f4'", "'<f8'"), 'latin1'));
      return ['explain', '--model', MODEL, '--input', path, '--output', join(work, 'e.npy')];
    },
    /expected float32/,
  ],
  [
    'an input of the wrong rank',
    () => {
      const path = join(work, 'rank.npy');
      writeFileSync(path, encodeNpy({ data: new Float32Array(3 * 32 * 32), shape: [3, 32, 32] }));
      return ['explain', '--model', MODEL, '--input', path, '--output', join(work, 'g.npy')];
    },
    /the model expects \[N,3,32,32\]/,
  ],
  [
    'an unknown method',
    () => ['explain', '--model', MODEL, '--input', X, '--method', 'magic', '--output', join(work, 'h.npy')],
    /--method must be one of gradient, .*; got 'magic'/,
  ],
  ['a target out of range', () => ['explain', '--model', MODEL, '--input', X, '--target', '99', '--output', join(work, 'i.npy')], /not a class index/],
];

for (const [what, args, message] of bad) {
  test(`explain/compile reject ${what} with one clear line`, () => {
    const r = saliency(...args());
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
}

const TINY = join(FIXTURES, 'service-models', 'tiny', 'model.onnx');

test('explain reads an image with the manifest beside the model and renders a PNG at the original size', async () => {
  const photo = join(work, 'photo.png');
  writeFileSync(photo, await testImage(90, 60));
  const out = join(work, 'map.png');
  const r = saliency('explain', '--model', TINY, '--input', photo, '--method', 'smoothgrad', '--samples', '4', '--colormap', 'inferno', '--output', out);
  assert.equal(r.code, 0, r.stderr);
  const meta = await sharp(readFileSync(out)).metadata();
  assert.deepEqual([meta.width, meta.height], [90, 60]);
  const npy = join(work, 'map.npy');
  assert.equal(saliency('explain', '--model', TINY, '--input', photo, '--output', npy).code, 0);
  assert.deepEqual(decodeNpy(readFileSync(npy)).shape, [1, 3, 32, 32]);
});

test('several methods render a comparison grid; --sweep-* renders a noise × samples grid', async () => {
  const photo = join(work, 'photo2.png');
  writeFileSync(photo, await testImage(64, 64));
  const grid = join(work, 'grid.png');
  const r = saliency(
    'explain',
    '--model',
    TINY,
    '--input',
    photo,
    '--method',
    'gradient,integrated-gradients,smoothgrad',
    '--samples',
    '3',
    '--steps',
    '4',
    '--output',
    grid,
  );
  assert.equal(r.code, 0, r.stderr);
  const g = await sharp(readFileSync(grid)).metadata();
  assert.ok((g.width as number) > 3 * (g.height as number) * 0.8, 'four panels side by side');
  const sweep = join(work, 'sweep.png');
  const s = saliency(
    'explain',
    '--model',
    TINY,
    '--input',
    photo,
    '--method',
    'smoothgrad',
    '--sweep-noise',
    '0.1,0.2',
    '--sweep-samples',
    '2,4',
    '--output',
    sweep,
  );
  assert.equal(s.code, 0, s.stderr);
  assert.ok(readFileSync(sweep).length > 1000);
  const wrong = saliency('explain', '--model', TINY, '--input', photo, '--method', 'gradient,smoothgrad', '--output', join(work, 'x.npy'));
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /use a \.png --output/);
});

test('explain --scaling draws a .png the way a library visualiser does, and --preset makes its library the default', async () => {
  const pixels = async (png: Uint8Array | string) => (await sharp(png).raw().toBuffer()).toString('base64');
  const run = (out: string, ...flags: string[]) => {
    const r = saliency('explain', '--model', MODEL, '--input', X, '--target', '3,7', '--colormap', 'gray', '--output', join(work, out), ...flags);
    assert.equal(r.code, 0, r.stderr);
    return join(work, out);
  };
  // The .png is the raw attribution drawn with the library's scaling and its visualiser's defaults.
  const raw = decodeNpy(readFileSync(run('gxi.npy', '--method', 'gradient-x-input')));
  const captum = resolveRenderOptions('attribution', { scaling: 'captum', colormap: 'gray', size: 'input' });
  const expected = (await renderHeatmap({ raw: { data: raw.data, shape: raw.shape } }, captum)).png;
  assert.equal(await pixels(run('gxi-captum.png', '--method', 'gradient-x-input', '--scaling', 'captum')), await pixels(expected));

  const byPreset = await pixels(run('pair.png', '--method', 'gradient', '--preset', 'pair'));
  assert.equal(byPreset, await pixels(run('pair-pair.png', '--method', 'gradient', '--preset', 'pair', '--scaling', 'pair')));
  assert.notEqual(byPreset, await pixels(run('pair-service.png', '--method', 'gradient', '--preset', 'pair', '--scaling', 'service')));

  const wrong = saliency('explain', '--model', MODEL, '--input', X, '--scaling', 'matplotlib', '--output', join(work, 'w.png'));
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /scaling must be one of 'service', 'captum', 'pair', 'xplique'/);
  assert.equal(wrong.stderr.trim().split('\n').length, 1, wrong.stderr);
});

test('--targets: one .npy per class, each the single-target run with the same seed; --metrics prints one set per class', async () => {
  const photo = join(work, 'photo3.png');
  writeFileSync(photo, await testImage(48, 40));
  const out = join(work, 'several.npy');
  const common = ['explain', '--model', TINY, '--input', photo, '--method', 'smoothdiff', '--samples', '3', '--seed', '5'];
  const r = saliency(...common, '--targets', '3,seven', '--metrics', 'sparseness,pixel-flipping', '--flip-steps', '2', '--output', out);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { targets: number[]; outputs: string[]; metrics: { sparseness: number; pixelFlipping: { morf: number[] } }[] };
  assert.deepEqual(report.targets, [3, 7]);
  assert.deepEqual(report.outputs, [join(work, 'several-3.npy'), join(work, 'several-7.npy')]);
  assert.equal(report.metrics.length, 2);
  assert.equal(report.metrics[1]?.pixelFlipping.morf.length, 3);
  for (const [k, target] of ['3', 'seven'].entries()) {
    const alone = join(work, `alone-${target}.npy`);
    const single = saliency(...common, '--target', target, '--metrics', 'sparseness,pixel-flipping', '--flip-steps', '2', '--output', alone);
    assert.equal(single.code, 0, single.stderr);
    assert.deepEqual(decodeNpy(readFileSync(report.outputs[k] as string)), decodeNpy(readFileSync(alone)));
    assert.deepEqual((JSON.parse(single.stdout) as { metrics: unknown[] }).metrics, [report.metrics[k]]);
  }
  const grid = join(work, 'top.png');
  const top = saliency('explain', '--model', TINY, '--input', photo, '--method', 'grad-cam-plus-plus', '--targets', 'top-3', '--output', grid);
  assert.equal(top.code, 0, top.stderr);
  const meta = await sharp(readFileSync(grid)).metadata();
  assert.ok((meta.width as number) > 3 * (meta.height as number) * 0.8, 'the image and three class panels side by side');
});

test('every method runs from the command line, alone and in a comparison grid (with several targets: methods × classes)', async () => {
  const photo = join(work, 'photo4.png');
  writeFileSync(photo, await testImage(40, 40));
  const cases: string[][] = [
    ['--method', 'smoothgrad', '--base', 'grad-cam', '--samples', '2'],
    ['--method', 'grad-cam-plus-plus'],
    ['--method', 'smooth-grad-cam-plus-plus', '--samples', '2'],
    ['--method', 'noisegrad', '--models', '2', '--weight-noise', '0.1', '--head', 'false'],
    ['--method', 'fusiongrad', '--models', '2', '--samples', '2'],
    ['--method', 'adaptgrad', '--samples', '3', '--confidence', '0.9'],
  ];
  for (const flags of cases) {
    const out = join(work, `${flags[1]}.npy`);
    const r = saliency('explain', '--model', TINY, '--input', photo, ...flags, '--output', out);
    assert.equal(r.code, 0, `${flags.join(' ')}: ${r.stderr}`);
    const cam = flags.includes('grad-cam') || (flags[1] as string).includes('grad-cam');
    assert.deepEqual(decodeNpy(readFileSync(out)).shape, cam ? [1, 1, 32, 32] : [1, 3, 32, 32], flags.join(' '));
  }
  const methods = 'smoothgrad,grad-cam-plus-plus,smooth-grad-cam-plus-plus,noisegrad,fusiongrad,adaptgrad';
  const grid = join(work, 'new-methods.png');
  const r = saliency(
    'explain',
    '--model',
    TINY,
    '--input',
    photo,
    '--method',
    methods,
    '--base',
    'grad-cam',
    '--samples',
    '2',
    '--models',
    '2',
    '--output',
    grid,
  );
  assert.equal(r.code, 0, r.stderr);
  const row = await sharp(readFileSync(grid)).metadata();
  assert.ok((row.width as number) > 6 * (row.height as number) * 0.8, 'the image and six panels side by side');
  const table = join(work, 'methods-by-class.png');
  const t = saliency(
    'explain',
    ...['--model', TINY, '--input', photo, '--method', methods, '--base', 'grad-cam', '--samples', '2', '--models', '2'],
    ...['--targets', '1,2', '--metrics', 'complexity', '--output', table],
  );
  assert.equal(t.code, 0, t.stderr);
  const report = JSON.parse(t.stdout) as { targets: number[]; metrics: Record<string, { complexity: number }[]> };
  assert.deepEqual(report.targets, [1, 2]);
  assert.deepEqual(Object.keys(report.metrics), methods.split(','));
  for (const perClass of Object.values(report.metrics)) assert.equal(perClass.length, 2);
  const cells = await sharp(readFileSync(table)).metadata();
  assert.ok((cells.height as number) > (cells.width as number), 'six method rows, two class columns');
});

const badTargets: [string, string[], RegExp][] = [
  ['--target with --targets', ['--target', '3', '--targets', '3,4'], /not both/],
  ['--targets on a batch', ['--targets', '3,4'], /explains one image; the input is a batch of 2/],
  ['a class twice', ['--targets', '3,3'], /--targets: a class is listed twice/],
  ['top-0', ['--targets', 'top-0'], /--targets: top-0/],
  ['a label without a manifest', ['--targets', 'tabby'], /not a class index/],
  ['an unknown metric', ['--metrics', 'beauty'], /--metrics must be one of sparseness/],
  ['--flip-steps alone', ['--flip-steps', '4'], /apply to --metrics pixel-flipping/],
  [
    'a base the method does not take',
    ['--method', 'noisegrad', '--base', 'guided-backprop'],
    /--method noisegrad takes --base gradient, gradient-x-input, not 'guided-backprop'/,
  ],
];
for (const [what, flags, message] of badTargets) {
  test(`explain rejects ${what} with one clear line`, () => {
    const r = saliency('explain', '--model', MODEL, '--input', X, ...flags, '--output', join(work, 'bad.npy'));
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
}

test('bench methods --methods picks cases; a model file is timed without a PyTorch reference', () => {
  const r = saliency('bench', 'methods', '--models', TINY, '--repeat', '1', '--threads', '1', '--methods', 'grad-cam-plus-plus,adaptgrad,sparseness');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0] as string, /method \(no PyTorch reference\)/);
  assert.deepEqual(
    lines.slice(1).map((l) => /model\.onnx\s+(.+?)\s{2,}/.exec(l)?.[1]),
    ['grad-cam-plus-plus', 'adaptgrad (n=50)', 'metrics=sparseness (extra over gradient)'],
  );
  const bad = saliency('bench', 'methods', '--models', TINY, '--methods', 'nope');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--methods: 'nope' is none of all, reference, new, metrics/);
});
