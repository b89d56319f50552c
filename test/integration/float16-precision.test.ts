// Float16 models in their own precision (onnx/float16.ts, runtime/model-context.ts): the method
// graphs with their classifier part in float16 against the float32 path, on the CPU. The CPU
// provider would compute a float16 graph in float32 (it drops the cast pairs it inserts around its
// float32-only kernels), so the float16 sessions here round every float16 tensor explicitly
// (float16OnCpu: withFloat16Rounding): what is checked is float16 storage between nodes, as on a GPU.
//
// Bounds. Float16 keeps 11 significant bits: one rounding moves a value by at most 2^-12 relative.
// The conv net below has a path of 8 ops forward and about as many backward, each of whose outputs
// (and the input, the weights) is rounded once: a few dozen roundings of 2^-12 ≈ 2.4e-4, most of
// them averaging out over the channels summed. The bounds, ‖Δ‖/‖g‖ ≤ 4e-3 (16 roundings' worth)
// and cosine ≥ 0.999, leave room for that, not for an error in the graph (a missing unscale is off
// by 1024, a float16 sum of copies or a lost seed is off by far more). A gradient is not smooth
// where a ReLU input crosses 0 or two values of a pooling window tie: float16 rounding flips the
// decisions within 2^-11 of such a kink, and each flip changes that unit's share of the gradient
// entirely, not by 2^-12. Methods that evaluate many perturbed points meet more of them: SmoothDiff
// counts decisions over n noisy copies (each flip moves a mean by 1/n), NoiseGrad perturbs every
// weight by 20% per noisy model. They get ‖Δ‖/‖g‖ ≤ 5e-2 on this small net (a unit is a large
// share of it); the cosine bound is the same. Measured values go to the test's diagnostics.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type ExplainRequest, explain } from '../../src/methods/explain.js';
import { compileFor } from '../../src/methods/context.js';
import { buildFusedGraph } from '../../src/methods/fused-graph.js';
import { BACKWARD_SCALE, computeInFloat16, floatToHalf, halfToFloat, storeInFloat16 } from '../../src/onnx/float16.js';
import { attr } from '../../src/onnx/attributes.js';
import { type Model } from '../../src/onnx/ir.js';
import { DataType, floatValues, tensorDims } from '../../src/onnx/tensor.js';
import { modelFactsOf } from '../../src/models/model-facts.js';
import { type ContextOptions, type OwnedContext, type SessionCreated, openModelContext, sessionPrecision } from '../../src/runtime/model-context.js';
import { SessionPool } from '../../src/runtime/session-pool.js';
import { writeModel } from '../helpers/classifier-models.js';
import { cosine, graphModel, relErr, seededNormal, seededWeights } from '../helpers/tiny-graph.js';

const work = mkdtempSync(join(tmpdir(), 'saliency-float16-'));
const opened: OwnedContext[] = [];
after(async () => {
  await Promise.all(opened.map((c) => c.close()));
  rmSync(work, { recursive: true, force: true });
});

const SIZE = 16;
const weights = seededWeights;

/** x [N,3,16,16] → Conv 3→8 → Relu → MaxPool 2 → Conv 8→C → Relu → GlobalAveragePool → Flatten → Gemm → logits. */
function convNet(options: { classes?: number; channels?: number; headScale?: number } = {}): Model {
  const { classes = 6, channels = 12, headScale = 1 } = options;
  return graphModel({
    x: [3, SIZE, SIZE],
    opset: 17,
    output: 'logits',
    nodes: [
      { opType: 'Conv', inputs: ['x', 'w1', 'b1'], outputs: ['c1'], attrs: { pads: attr.ints([1, 1, 1, 1]), kernel_shape: attr.ints([3, 3]) } },
      { opType: 'Relu', inputs: ['c1'], outputs: ['r1'], attrs: {} },
      { opType: 'MaxPool', inputs: ['r1'], outputs: ['p1'], attrs: { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) } },
      { opType: 'Conv', inputs: ['p1', 'w2', 'b2'], outputs: ['c2'], attrs: { pads: attr.ints([1, 1, 1, 1]), kernel_shape: attr.ints([3, 3]) } },
      { opType: 'Relu', inputs: ['c2'], outputs: ['features'], attrs: {} },
      { opType: 'GlobalAveragePool', inputs: ['features'], outputs: ['pooled'], attrs: {} },
      { opType: 'Flatten', inputs: ['pooled'], outputs: ['flat'], attrs: { axis: attr.int(1) } },
      { opType: 'Gemm', inputs: ['flat', 'w3', 'b3'], outputs: ['logits'], attrs: { transB: attr.int(1) } },
    ],
    initializers: {
      w1: weights(1, [8, 3, 3, 3], 0.4),
      b1: weights(2, [8], 0.1),
      w2: weights(3, [channels, 8, 3, 3], 0.25),
      b2: weights(4, [channels], 0.1),
      w3: weights(5, [classes, channels], 0.5 * headScale),
      b3: weights(6, [classes], 0.1 * headScale),
    },
  });
}

const fp16Path = (name: string, model: Model) => writeModel(join(work, `${name}.onnx`), storeInFloat16(model));

async function open(path: string, options: ContextOptions = {}): Promise<OwnedContext> {
  const ctx = await openModelContext(path, { threads: 1, weightsDir: join(work, 'weights'), ...options });
  opened.push(ctx);
  return ctx;
}

const image = (seed: number) => ({ data: Float32Array.from(seededNormal(seed, 3 * SIZE * SIZE)), dims: [1, 3, SIZE, SIZE] });

async function attributions(ctx: OwnedContext, request: ExplainRequest): Promise<Float32Array> {
  return (await explain(ctx, request)).attribution.data;
}

const path = fp16Path('conv-net', convNet());

test('float16 bits: rounding to nearest even, subnormals, overflow to infinity', () => {
  assert.equal(floatToHalf(1), 0x3c00);
  assert.equal(floatToHalf(65504), 0x7bff);
  assert.equal(floatToHalf(65520), 0x7c00); // halfway to the next binade rounds up: ∞
  assert.equal(floatToHalf(2 ** -24), 0x0001);
  assert.equal(floatToHalf(2 ** -26), 0); // under half the smallest subnormal
  assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00); // a tie: to even
  assert.equal(floatToHalf(1 + 3 * 2 ** -11), 0x3c02);
  for (const v of [0.1, -3.14159, 1e-5, 6e-8, 1234.5])
    assert.ok(Math.abs(halfToFloat(floatToHalf(v)) - v) <= Math.max(Math.abs(v) * 2 ** -11, 2 ** -25), String(v));
});

test('which precision a session gets: float16 only for a float16 model on the CUDA provider', () => {
  const fp16 = [DataType.FLOAT16];
  assert.equal(sessionPrecision({ provider: 'cuda', storedAs: fp16 }), 'float16');
  assert.equal(sessionPrecision({ provider: 'cuda', storedAs: fp16, cudaPrecision: 'model' }), 'float16');
  assert.equal(sessionPrecision({ provider: 'cuda', storedAs: fp16, cudaPrecision: 'float32' }), 'float32');
  assert.equal(sessionPrecision({ provider: 'cpu', storedAs: fp16 }), 'float32');
  assert.equal(sessionPrecision({ provider: 'cpu', storedAs: fp16, cudaPrecision: 'model' }), 'float32');
  assert.equal(sessionPrecision({ provider: 'cuda', storedAs: [] }), 'float32');
  assert.equal(sessionPrecision({ provider: 'cuda', storedAs: [DataType.DOUBLE] }), 'float32');
  // Tests only: the float16 graphs on the CPU.
  assert.equal(sessionPrecision({ provider: 'cpu', storedAs: fp16, float16OnCpu: true }), 'float16');
});

test('on a host without CUDA a float16 model asked for on CUDA computes in float32, and says so', async () => {
  const sessions: SessionCreated[] = [];
  const fallbacks: Error[] = [];
  const ctx = await open(path, { executionProvider: 'cuda', cudaPrecision: 'model', onSession: (s) => sessions.push(s), onFallback: (e) => fallbacks.push(e) });
  assert.equal(ctx.precision, 'float32');
  await attributions(ctx, { x: image(1), params: { method: 'gradient' }, targets: [2] });
  assert.ok(sessions.length > 0);
  for (const s of sessions) assert.deepEqual([s.provider, s.precision], ['cpu', 'float32'], JSON.stringify(s));
  assert.ok(fallbacks.length > 0, 'the CUDA provider is tried (and falls back) as before');
  const facts = modelFactsOf(ctx, compileFor(ctx, 'standard'));
  assert.equal(facts.computesIn, 'float32');
  assert.deepEqual(facts.storedAs, ['float16']);
});

test('the fused graph: the classifier part in float16 between float32 inputs and outputs, the sums in float32', async () => {
  const ctx = await open(path);
  const compiled = compileFor(ctx, 'standard');
  const fused = buildFusedGraph(compiled, ctx.sampleShape);
  const half = computeInFloat16(fused);
  assert.deepEqual(half.entries.sort(), [compiled.input, compiled.seed].sort());
  assert.deepEqual(half.exits.sort(), [compiled.explained, compiled.gradient].sort());
  assert.deepEqual(half.scaled, [compiled.gradient]);
  const g = half.model.graph;
  for (const v of [...g.inputs, ...g.outputs]) assert.equal(v.elemType, DataType.FLOAT, v.name);
  // Every model node and every backward node is in the part; no method node reads a float16 tensor.
  assert.equal(half.nodes, compiled.model.graph.nodes.length);
  for (const n of g.nodes.filter((n) => n.name.startsWith('fused'))) assert.ok(!n.inputs.some((i) => i.endsWith('/float16')), n.name);
  // The seed is scaled by S on its way in, the input gradient divided by S on its way out.
  const scale = g.initializers.get(`${compiled.seed}/scale`);
  const unscale = g.initializers.get(`${compiled.gradient}/unscale`);
  assert.deepEqual([floatValues(scale as never)[0], floatValues(unscale as never)[0]], [BACKWARD_SCALE, 1 / BACKWARD_SCALE]);
  // The weights are float16 under their own names.
  for (const name of ['w1', 'w2', 'w3']) assert.equal(g.initializers.get(name)?.dataType, DataType.FLOAT16, name);
});

const METHODS: [string, ExplainRequest['params']][] = [
  ['gradient', { method: 'gradient' }],
  ['gradient × input', { method: 'gradient-x-input' }],
  ['SmoothGrad', { method: 'smoothgrad', samples: 6, seed: 3 }],
  ['VarGrad', { method: 'vargrad', samples: 6, seed: 3 }],
  ['Integrated Gradients', { method: 'integrated-gradients', steps: 8 }],
  ['SmoothDiff (injected derivatives)', { method: 'smoothdiff', samples: 6, seed: 3 }],
  ['Grad-CAM (exposed layer gradient)', { method: 'grad-cam' }],
  ['Smooth Grad-CAM++', { method: 'smoothgrad', base: 'grad-cam-plus-plus', samples: 4, seed: 3 } as unknown as ExplainRequest['params']],
  ['Guided Backprop', { method: 'guided-backprop' }],
  ['NoiseGrad (lifted weights)', { method: 'noisegrad', models: 3, seed: 3 }],
];

test('every method graph in float16 matches the float32 path (cosine ≥ 0.999, ‖Δ‖/‖g‖ ≤ 4e-3; SmoothDiff, NoiseGrad 5e-2)', async (t) => {
  const sessions: SessionCreated[] = [];
  const half = await open(path, { float16OnCpu: true, onSession: (s) => sessions.push(s) });
  const full = await open(path);
  assert.equal(half.precision, 'float16');
  assert.equal(full.precision, 'float32');
  for (const [label, params] of METHODS) {
    for (const [seed, target] of [
      [11, 1],
      [12, 4],
    ] as const) {
      const request = { x: image(seed), params, targets: [target] };
      const [a, b] = [await attributions(half, request), await attributions(full, request)];
      const [cos, err] = [cosine(a, b), relErr(a, b)];
      t.diagnostic(`${label}, image ${seed}: cosine ${cos.toFixed(7)}, ‖Δ‖/‖g‖ ${err.toExponential(2)}`);
      const bound = label.startsWith('SmoothDiff') || label.startsWith('NoiseGrad') ? 5e-2 : 4e-3;
      assert.ok(cos >= 0.999 && err <= bound, `${label}: cosine ${cos}, relative error ${err}`);
      assert.ok(!a.every((v, i) => v === b[i]), `${label}: the float16 graph computed something of its own`);
    }
  }
  // Every session of the float16 context computed in float16 (none fell back to the float32 graph).
  for (const s of sessions) assert.equal(s.precision, 'float16', `${s.key}: ${s.reason ?? ''}`);
  for (const s of half.sessionInfo()) assert.equal(s.precision, 'float16', s.key);
});

test('loss scaling: input gradients of ~1e-7 survive the float16 backward pass only with the scaled seed', async (t) => {
  // The head's weights ×1e-5: every cotangent below it, the input gradient's included, is 1e-5 smaller.
  const small = fp16Path('small-gradients', convNet({ headScale: 1e-5 }));
  const full = await open(small);
  const scaled = await open(small, { float16OnCpu: true });
  const unscaled = await open(small, { float16OnCpu: true, backwardScale: 1 });
  const request = { x: image(21), params: { method: 'gradient' as const }, targets: [3] };
  const reference = await attributions(full, request);
  const peak = reference.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assert.ok(peak < 2e-6 && peak > 1e-8, `input gradients of order 1e-7 (largest ${peak})`);
  const withScale = await attributions(scaled, request);
  const without = await attributions(unscaled, request);
  const zeros = (a: Float32Array) => a.filter((v) => v === 0).length;
  t.diagnostic(
    `largest |g| ${peak.toExponential(2)}; scaled: cosine ${cosine(withScale, reference).toFixed(7)}, ‖Δ‖/‖g‖ ${relErr(withScale, reference).toExponential(2)}`,
  );
  t.diagnostic(
    `unscaled: cosine ${cosine(without, reference).toFixed(4)}, ‖Δ‖/‖g‖ ${relErr(without, reference).toExponential(2)}, ${zeros(without)} of ${without.length} flushed to 0`,
  );
  assert.ok(cosine(withScale, reference) >= 0.999 && relErr(withScale, reference) <= 4e-3);
  // Unscaled, the cotangents fall into float16's subnormals (under 6.1e-5) and below: most of the
  // gradient is gone or keeps a bit or two.
  assert.ok(relErr(without, reference) > 0.1, `unscaled relative error ${relErr(without, reference)}`);
});

test("the weights' float16 copies are made once per context and stored once, whatever the number of sessions", async () => {
  // A head of 1024×64 floats: 256 KB in float32, 128 KB in float16, both over the shared file's
  // 64 KB threshold; every other weight stays inline. A pool of 1 byte evicts every idle session
  // when the next one is admitted: the second round rebuilds each session.
  const big = fp16Path('big-head', convNet({ channels: 64, classes: 1024 }));
  const ctx = await open(big, { float16OnCpu: true, pool: new SessionPool(1) });
  const x = image(31);
  const methods = [
    { method: 'gradient' },
    { method: 'grad-cam' },
    { method: 'smoothdiff', samples: 2, seed: 1 },
    { method: 'guided-backprop' },
  ] as ExplainRequest['params'][];
  for (const params of methods) await attributions(ctx, { x, params, targets: [5] });
  const converted = ctx.halfWeights();
  const head = 1024 * 64;
  // In the file: the float32 head (the model as loaded) and its one float16 copy.
  assert.deepEqual(ctx.weightFile(), { bytes: 4 * head + 2 * head, tensors: 2 });
  for (const params of methods) await attributions(ctx, { x, params, targets: [7] });
  const sessions = ctx.sessionInfo();
  assert.ok(sessions.length >= 5, JSON.stringify(sessions.map((s) => s.key)));
  assert.ok(
    sessions.some((s) => s.builds > 1),
    'sessions were rebuilt',
  );
  // Rebuilt sessions and new graphs convert nothing again, and add nothing to the file.
  assert.equal(ctx.halfWeights(), converted);
  assert.deepEqual(ctx.weightFile(), { bytes: 4 * head + 2 * head, tensors: 2 });
  // Each session that reads the head maps its float16 copy from the file; none holds it inline.
  for (const s of sessions.filter((s) => s.key !== 'smoothdiff:stats')) {
    assert.equal(s.precision, 'float16', s.key);
    assert.equal(s.sharedBytes, 2 * head, `${s.key} maps the float16 head`);
    assert.ok(s.inlineBytes < 2 * head, `${s.key} holds ${s.inlineBytes} bytes inline`);
  }
  assert.deepEqual(tensorDims(ctx.model.graph.initializers.get('w3') as never), [1024, 64]);
});

test('a graph without a classifier boundary, or a float32 model, stays float32', async () => {
  const ctx = await open(writeModel(join(work, 'fp32.onnx'), convNet()), { float16OnCpu: true });
  assert.equal(ctx.precision, 'float32');
  const compiled = compileFor(ctx, 'standard');
  const { boundary, ...plain } = compiled.model;
  assert.ok(boundary);
  assert.throws(() => computeInFloat16(plain), /does not say which part/);
  await attributions(ctx, { x: image(41), params: { method: 'gradient' }, targets: [0] });
  for (const s of ctx.sessionInfo()) assert.equal(s.precision, 'float32', s.key);
});
