// Backward policies on a tiny Conv-Relu-Conv-GlobalAveragePool-Flatten-Gemm classifier: rule
// overrides (guided ReLU), injected and exposed local derivatives, exposed activations, stopAt.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { type GradRule, inputGradient } from '../../src/gradgraph/index.js';
import { attr } from '../../src/onnx/attributes.js';
import { type Model, type Node, modelToProto } from '../../src/onnx/ir.js';
import { encodeModel } from '../../src/onnx/proto.js';
import { type FloatTensor, type RawOutput, Session } from '../../src/runtime/ort.js';
import { type ConstInput, GradHarness, cosine, dot, graphModel, maxAbs, relErr, seededNormal, size } from '../helpers/tiny-graph.js';

const BATCH = 2;
const SAMPLE = [3, 8, 8];
const CLASSES = 3;
const X: FloatTensor = { data: seededNormal(1, BATCH * size(SAMPLE)), dims: [BATCH, ...SAMPLE] };
/** One-hot seed with different targets per sample (0 and 2), so a mix-up between samples shows. */
const SEED: FloatTensor = { data: Float32Array.from([1, 0, 0, 0, 0, 1]), dims: [BATCH, CLASSES] };

/** Weights at unit gain (normal, std √(2/fan_in)); small random biases. */
const he = (dims: number[], seed: number): ConstInput => {
  const fanIn = size(dims.slice(1));
  return { float: seededNormal(seed, size(dims)).map((v) => v * Math.sqrt(2 / fanIn)), dims };
};
const small = (dims: number[], seed: number): ConstInput => ({ float: seededNormal(seed, size(dims)).map((v) => 0.1 * v), dims });
const INITIALIZERS: Record<string, ConstInput> = {
  w1: he([4, 3, 3, 3], 11),
  b1: small([4], 12),
  w2: he([5, 4, 3, 3], 13),
  b2: small([5], 14),
  wf: he([CLASSES, 5], 15),
  bf: small([CLASSES], 16),
};
const pads1 = { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) };
type Spec = Omit<Node, 'domain' | 'name'>;
const CONV1: Spec = { opType: 'Conv', inputs: ['x', 'w1', 'b1'], outputs: ['h1'], attrs: pads1 };
const RELU: Spec = { opType: 'Relu', inputs: ['h1'], outputs: ['r1'], attrs: {} };
const HEAD: Spec[] = [
  { opType: 'Conv', inputs: ['r1', 'w2', 'b2'], outputs: ['h2'], attrs: pads1 },
  { opType: 'GlobalAveragePool', inputs: ['h2'], outputs: ['p'], attrs: {} },
  { opType: 'Flatten', inputs: ['p'], outputs: ['f'], attrs: { axis: attr.int(1) } },
  { opType: 'Gemm', inputs: ['f', 'wf', 'bf'], outputs: ['y'], attrs: { transB: attr.int(1) } },
];

/** x → Conv → h1 → Relu → r1 → Conv → h2 → GlobalAveragePool → Flatten → Gemm → y. */
const NET: Model = graphModel({ x: SAMPLE, opset: 13, initializers: INITIALIZERS, nodes: [CONV1, RELU, ...HEAD] });
/** The same net without its ReLU (h1 feeds the second Conv): the linearised net at all-ones masks. */
const LINEAR_NET: Model = graphModel({
  x: SAMPLE,
  opset: 13,
  initializers: INITIALIZERS,
  nodes: [{ ...CONV1, outputs: ['r1'] }, ...HEAD],
});
/** A variant with an overlapping MaxPool after the ReLU (two kinds of local derivatives). */
const POOL_NET: Model = graphModel({
  x: SAMPLE,
  opset: 13,
  initializers: INITIALIZERS,
  nodes: [
    CONV1,
    { ...RELU, outputs: ['r0'] },
    {
      opType: 'MaxPool',
      inputs: ['r0'],
      outputs: ['r1'],
      attrs: { kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) },
    },
    ...HEAD,
  ],
});

/** Runs a model whose single input is 'x' and returns its first output. */
async function runModel(model: Model, x: FloatTensor): Promise<FloatTensor> {
  const session = await Session.create(encodeModel(modelToProto(model)), { threads: 1 });
  try {
    const out = await session.run({ x });
    return out[session.outputNames[0] as string] as FloatTensor;
  } finally {
    await session.release();
  }
}

/** Every output of the compiled graph of `model` under `policy`, with extra feeds. */
async function compileAndRun(model: Model, policy: Parameters<typeof GradHarness.create>[1] = {}, extra: Record<string, FloatTensor> = {}) {
  const h = await GradHarness.create(model, policy);
  try {
    return { compiled: h.compiled, out: await h.run(X, SEED, extra) };
  } finally {
    await h.release();
  }
}

/** The float one-hot tensor of `dims` whose class along `axis` is given per element by `classes`. */
function oneHotAlong(classes: ArrayLike<number | bigint>, dims: number[], axis: number): Float32Array {
  const out = new Float32Array(size(dims));
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const K = dims[axis] as number;
  for (let e = 0; e < classes.length; e++) {
    const k = Number(classes[e]);
    assert.ok(k >= 0 && k < K, `class ${k} out of range`);
    out[(Math.floor(e / inner) * K + k) * inner + (e % inner)] = 1;
  }
  return out;
}

/** The float outputs of a raw run. */
function rawFloats(raw: Record<string, RawOutput>): Record<string, FloatTensor> {
  const floats = Object.entries(raw).filter(([, t]) => t.type === 'float32');
  return Object.fromEntries(floats.map(([name, t]) => [name, { data: t.data as Float32Array, dims: t.dims }]));
}

function get(out: Record<string, FloatTensor>, name: string | undefined): FloatTensor {
  const t = name === undefined ? undefined : out[name];
  assert.ok(t, `output ${name} is missing (outputs: ${Object.keys(out).join(', ')})`);
  return t;
}

function assertClose(actual: FloatTensor, expected: FloatTensor, bound: number, what: string): void {
  assert.deepEqual(actual.dims, expected.dims, `${what}: dims`);
  assert.ok(maxAbs(expected.data) > 0, `${what}: the expected tensor is all zero`);
  const n = expected.data.length / BATCH;
  for (let s = 0; s < BATCH; s++) {
    const a = actual.data.subarray(s * n, (s + 1) * n);
    const e = expected.data.subarray(s * n, (s + 1) * n);
    const r = relErr(a, e);
    const c = cosine(a, e);
    assert.ok(r <= bound, `${what}, sample ${s}: relative L2 error ${r}, cosine ${c}`);
  }
}

let standard: { grad: FloatTensor; h1: FloatTensor; gradH1: FloatTensor; gradR1: FloatTensor };
before(async () => {
  const { compiled, out } = await compileAndRun(NET, { policy: { expose: ['h1', 'r1'] } });
  standard = { grad: get(out, inputGradient(compiled)), h1: get(out, 'h1'), gradH1: get(out, 'grad_h1'), gradR1: get(out, 'grad_r1') };
  const y = await runModel(NET, X);
  // The test net is not degenerate: logits O(1), gradients far from zero, both ReLU regimes present.
  assert.ok(maxAbs(y.data) > 0.05 && maxAbs(y.data) < 100, `logits ${Array.from(y.data).join(', ')}`);
  assert.ok(maxAbs(standard.grad.data) > 1e-3);
  assert.ok(standard.h1.data.some((v) => v > 0) && standard.h1.data.some((v) => v < 0));
});

// ---------------------------------------------------------------- (1) rule overrides

/** Guided ReLU: g_in = g · [x > 0] · [g > 0] (Springenberg et al.). */
const guidedRelu: GradRule = {
  differentiable: [0],
  backward(ctx) {
    const b = ctx.b;
    const g = ctx.gradOut(0) as string;
    const open = b.cast(b.op('Greater', [ctx.input(0), b.scalar(0)]), 1);
    ctx.give(0, b.mul(b.op('Relu', [g]), open));
  },
};

test('override: guided ReLU passes only positive cotangents where the input is positive', async () => {
  const { compiled, out } = await compileAndRun(NET, { policy: { overrides: { Relu: guidedRelu }, expose: ['h1', 'r1'] } });
  const gradR1 = get(out, 'grad_r1');
  const gradH1 = get(out, 'grad_h1');
  const h1 = get(out, 'h1');
  // Above the ReLU nothing changed.
  assert.deepEqual(Array.from(gradR1.data), Array.from(standard.gradR1.data));
  assert.deepEqual(Array.from(h1.data), Array.from(standard.h1.data));
  // At the ReLU: exactly relu(g)·[h1 > 0], never negative; the standard rule does pass negatives.
  const expected = gradR1.data.map((g, i) => ((h1.data[i] as number) > 0 && g > 0 ? g : 0));
  assert.deepEqual(
    Array.from(gradH1.data, (v) => v + 0),
    Array.from(expected),
  );
  assert.ok(
    gradH1.data.every((v) => v >= 0),
    'guided cotangents are never negative',
  );
  assert.ok(
    standard.gradH1.data.some((v) => v < 0),
    'the standard cotangent at the ReLU has negative entries (non-degenerate test)',
  );
  assert.ok(gradH1.data.some((v) => v > 0));
  // Below the ReLU the standard Conv rule applies: grad_x = conv1*(grad_h1), checked by adjointness
  // against the forward Conv: ⟨grad_x, δ⟩ = ⟨grad_h1, conv1(δ) − conv1(0)⟩.
  const gradX = get(out, compiled.gradient);
  const conv1 = graphModel({ x: SAMPLE, opset: 13, initializers: INITIALIZERS, nodes: [CONV1], output: 'h1' });
  const delta: FloatTensor = { data: seededNormal(99, size(X.dims)), dims: X.dims };
  const atDelta = await runModel(conv1, delta);
  const atZero = await runModel(conv1, { data: new Float32Array(size(X.dims)), dims: X.dims });
  const lhs = dot(gradX.data, delta.data);
  const rhs = dot(
    gradH1.data,
    atDelta.data.map((v, i) => v - (atZero.data[i] as number)),
  );
  assert.ok(Math.abs(lhs - rhs) <= 1e-5 * Math.abs(rhs), `<grad_x, δ> = ${lhs}, <grad_h1, conv1 δ> = ${rhs}`);
  // And it is a different explanation from the plain gradient.
  assert.ok(cosine(gradX.data, standard.grad.data) < 0.99, `cosine with the plain gradient ${cosine(gradX.data, standard.grad.data)}`);
});

test('override: an override replaces the rule for every node of that op type only', async () => {
  const { compiled } = await compileAndRun(NET, { policy: { overrides: { Relu: guidedRelu } } });
  // The guided rule emits a Relu on the cotangent; the standard ReLU rule never does.
  const added = compiled.model.graph.nodes.slice(NET.graph.nodes.length);
  assert.equal(added.filter((n) => n.opType === 'Relu').length, 1);
  assert.equal(added.filter((n) => n.opType === 'ConvTranspose' || n.opType === 'Conv').length, 2, 'both Conv rules are the standard ones');
});

// ---------------------------------------------------------------- (2) local derivatives

for (const [name, model] of [
  ['Conv-Relu-Conv net', NET],
  ['Conv-Relu-MaxPool-Conv net', POOL_NET],
] as const) {
  test(`derivatives: injecting the exposed local derivatives reproduces the standard gradient (${name})`, async () => {
    const plain = await compileAndRun(model);
    const exposedHarness = await GradHarness.create(model, { policy: { derivatives: { mode: 'expose' } } });
    const exposed = { compiled: exposedHarness.compiled, raw: await exposedHarness.runRaw(X, SEED) };
    await exposedHarness.release();
    const injected = await GradHarness.create(model, { policy: { derivatives: { mode: 'inject' } } });
    try {
      const list = exposed.compiled.derivatives;
      assert.ok(list.length > 0, 'the net has local derivatives');
      assert.deepEqual(
        injected.compiled.derivatives.map((d) => [d.name, d.opType, d.key, d.shape]),
        list.map((d) => [d.name, d.opType, d.key, d.shape]),
        'inject and expose describe the same tensors',
      );
      const expectedKeys = model === POOL_NET ? ['MaxPool/window_masks', 'Relu/dx'] : ['Relu/dx'];
      assert.deepEqual(list.map((d) => `${d.opType}/${d.key}`).sort(), expectedKeys);
      const feeds: Record<string, FloatTensor> = {};
      for (const d of list) {
        assert.equal(d.shape[0], 'N', `${d.name}: the batch dimension is symbolic`);
        const value = exposed.raw[d.name];
        assert.ok(value, `output ${d.name} is missing`);
        const dims = [BATCH, ...(d.shape.slice(1) as number[])];
        if (d.oneHot) {
          // Exposed as the class per element (the shape without the class axis): the derivative
          // is its one-hot along that axis.
          assert.deepEqual(
            value.dims,
            dims.filter((_, i) => i !== d.oneHot?.axis),
            `${d.name}: runtime shape of the class indices`,
          );
          feeds[d.name] = { data: oneHotAlong(value.data, dims, d.oneHot.axis), dims };
        } else {
          assert.deepEqual(value.dims, dims, `${d.name}: runtime shape matches the declared shape`);
          feeds[d.name] = { data: Float32Array.from(value.data as ArrayLike<number>), dims };
        }
      }
      // Exposing does not change the gradient.
      assert.deepEqual(Array.from(get(rawFloats(exposed.raw), exposed.compiled.gradient).data), Array.from(get(plain.out, plain.compiled.gradient).data));
      const grad = await injected.gradient(X, SEED, feeds);
      assert.deepEqual(Array.from(grad.data), Array.from(get(plain.out, plain.compiled.gradient).data));
      // The injected graph no longer needs the forward nonlinearity's mask: other masks change the result.
      const zeros = Object.fromEntries(list.map((d) => [d.name, { data: new Float32Array(feeds[d.name]?.data.length ?? 0), dims: feeds[d.name]?.dims ?? [] }]));
      assert.equal(maxAbs((await injected.gradient(X, SEED, zeros)).data), 0, 'zero local derivatives give a zero gradient');
    } finally {
      await injected.release();
    }
  });
}

test('derivatives: all-ones ReLU masks give the gradient of the linearised net', async () => {
  const injected = await GradHarness.create(NET, { policy: { derivatives: { mode: 'inject' } } });
  try {
    const [mask] = injected.compiled.derivatives;
    assert.ok(mask && injected.compiled.derivatives.length === 1);
    const dims = [BATCH, ...(mask.shape.slice(1) as number[])];
    const grad = await injected.gradient(X, SEED, { [mask.name]: { data: new Float32Array(size(dims)).fill(1), dims } });
    const linear = await compileAndRun(LINEAR_NET);
    const expected = get(linear.out, linear.compiled.gradient);
    assertClose(grad, expected, 1e-5, 'ones-mask gradient vs linearised net');
    assert.ok(cosine(expected.data, standard.grad.data) < 0.999, 'the linearised gradient differs from the ReLU net’s');
  } finally {
    await injected.release();
  }
});

test('derivatives: select limits which nodes get an injected input', async () => {
  const injected = await GradHarness.create(POOL_NET, { policy: { derivatives: { mode: 'inject', select: (n) => n.opType === 'MaxPool' } } });
  try {
    assert.deepEqual(
      injected.compiled.derivatives.map((d) => d.opType),
      ['MaxPool'],
    );
    assert.ok(injected.compiled.summary.inputs.includes(injected.compiled.derivatives[0]?.name ?? '?'));
  } finally {
    await injected.release();
  }
});

// ---------------------------------------------------------------- (3) expose

/** The net from h1 on (input named 'x' = h1): Relu → Conv → GlobalAveragePool → Flatten → Gemm. */
const REST: Model = graphModel({ x: [4, 8, 8], opset: 13, initializers: INITIALIZERS, nodes: [{ ...RELU, inputs: ['x'] }, ...HEAD] });

test('expose: the exposed activation and its gradient match a finite difference through the rest of the net', async () => {
  const { compiled, out } = await compileAndRun(NET, { policy: { expose: ['h1'] } });
  assert.deepEqual(compiled.exposed, [{ tensor: 'h1', gradient: 'grad_h1' }]);
  const h1 = get(out, 'h1');
  const gradH1 = get(out, 'grad_h1');
  assert.deepEqual(h1.dims, [BATCH, 4, 8, 8]);
  assert.deepEqual(gradH1.dims, h1.dims);
  const conv1 = graphModel({ x: SAMPLE, opset: 13, initializers: INITIALIZERS, nodes: [CONV1], output: 'h1' });
  assertClose(h1, await runModel(conv1, X), 1e-6, 'exposed h1 vs the forward h1');
  // Exposing does not change the input gradient.
  assert.deepEqual(Array.from(get(out, compiled.gradient).data), Array.from(standard.grad.data));
  // ⟨grad_h1, δ⟩ against central differences of Σ seed·rest(h1 ± ε·δ), δ zero near the ReLU kink.
  const eps = 1e-2;
  const delta = seededNormal(7, h1.data.length).map((v, i) => (Math.abs(h1.data[i] as number) < 10 * eps * 4 ? 0 : Math.max(-4, Math.min(4, v))));
  const L = async (data: Float32Array) => dot((await runModel(REST, { data, dims: h1.dims })).data, SEED.data);
  const plus = h1.data.map((v, i) => v + eps * (delta[i] as number));
  const minus = h1.data.map((v, i) => v - eps * (delta[i] as number));
  const fd = ((await L(plus)) - (await L(minus))) / (2 * eps);
  const analytic = dot(gradH1.data, delta);
  assert.ok(Math.abs(fd - analytic) <= 1e-3 * Math.abs(analytic), `finite difference ${fd}, analytic ${analytic}`);
});

test('expose: a tensor that does not depend on the input is refused', async () => {
  const model = graphModel({
    x: SAMPLE,
    opset: 13,
    initializers: { ...INITIALIZERS, k: small([3], 5) },
    nodes: [{ opType: 'Relu', inputs: ['k'], outputs: ['rk'], attrs: {} }, CONV1, RELU, ...HEAD],
  });
  await assert.rejects(GradHarness.create(model, { policy: { expose: ['rk'] } }), /tensor rk to expose does not depend on input x/);
});

// ---------------------------------------------------------------- (4) stopAt

test('stopAt: the sweep ends at the stop tensor; its gradient is unchanged and there is no input gradient', async () => {
  const h = await GradHarness.create(NET, { policy: { stopAt: ['h1'], expose: ['h1'] } });
  try {
    const c = h.compiled;
    assert.equal(c.gradient, undefined);
    assert.throws(() => inputGradient(c), /the graph has no gradient for x \(the sweep stops before it\)/);
    assert.ok(!c.summary.outputs.includes('grad_x'), `outputs: ${c.summary.outputs.join(', ')}`);
    assert.ok(c.summary.outputs.includes('grad_h1'));
    const added = c.model.graph.nodes.slice(NET.graph.nodes.length);
    // One convolution carries the cotangent (the second Conv's input gradient); the ReLU's mask is
    // the other (a depthwise 1×1 scaling of its output, see activations.ts).
    const carriers = added.filter((n) => n.opType === 'ConvTranspose' || (n.opType === 'Conv' && !n.inputs.includes('r1')));
    assert.equal(carriers.length, 1, 'the first Conv is not differentiated');
    await assert.rejects(h.gradient(X, SEED), /no input gradient/);
    const out = await h.run(X, SEED);
    assert.equal(out['grad_x'], undefined);
    assert.deepEqual(Array.from(get(out, 'grad_h1').data), Array.from(standard.gradH1.data));
  } finally {
    await h.release();
  }
});

test('stopAt: exposing a tensor upstream of the stop is refused (its gradient is never computed)', async () => {
  await assert.rejects(compileAndRun(NET, { policy: { stopAt: ['r1'], expose: ['h1', 'r1'] } }), /no gradient reaches h1: the sweep stops before it/);
});
