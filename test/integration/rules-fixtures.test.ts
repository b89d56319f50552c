// Graphs that PyTorch exports do not contain, against float64 references from
// tools/fixtures/make_rule_fixtures.py: ONNX Runtime's own optimised file (com.microsoft FusedConv
// with Relu/Clip/HardSigmoid, FusedGemm), a float16 model, a QDQ-quantised model.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { type BackwardPolicy } from '../../src/gradgraph/policy.js';
import { decodeNpy } from '../../src/imaging/npy.js';
import { guidedReluPolicy } from '../../src/methods/guided.js';
import { DataType } from '../../src/onnx/tensor.js';
import { compileSession, loadModel } from '../../src/runtime/gradient-model.js';
import { Session } from '../../src/runtime/ort.js';
import { encodeModel } from '../../src/onnx/proto.js';
import { modelToProto } from '../../src/onnx/ir.js';
import { FIXTURES } from '../helpers/paths.js';
import { cosine, dot, relErr, seededNormal } from '../helpers/tiny-graph.js';

const dir = join(FIXTURES, 'rules');
const npy = (name: string) => decodeNpy(readFileSync(join(dir, name)));

async function gradientOf(file: string, x: { data: Float32Array; dims: number[] }, seed: { data: Float32Array; dims: number[] }, policy?: BackwardPolicy) {
  const loaded = await loadModel(join(dir, file), { threads: 1 });
  const { compiled, session } = await compileSession(loaded, { threads: 1, ...(policy ? { policy } : {}) });
  try {
    const out = await session.run({ [compiled.input]: x, [compiled.seed]: seed });
    const grad = out[compiled.gradient as string];
    assert.ok(grad, 'no gradient output');
    return { grad, compiled, loaded };
  } finally {
    await session.release();
  }
}

/** Per-sample cosine and relative error against the reference, both printed on failure. */
function assertClose(t: TestContext, actual: Float32Array, expected: Float32Array, samples: number, cos = 0.9999, rel = 1e-4): void {
  const n = expected.length / samples;
  for (let s = 0; s < samples; s++) {
    const [a, e] = [actual.subarray(s * n, (s + 1) * n), expected.subarray(s * n, (s + 1) * n)];
    const [c, r] = [cosine(a, e), relErr(a, e)];
    t.diagnostic(`sample ${s}: cosine ${c.toFixed(8)}, relative error ${r.toExponential(2)}`);
    assert.ok(c >= cos && r <= rel, `sample ${s}: cosine ${c}, relative error ${r.toExponential(2)}`);
  }
}

function fixture(name: string) {
  const x = npy(`${name}.x.npy`);
  const seed = npy(`${name}.seed.npy`);
  return { x: { data: x.data, dims: x.shape }, seed: { data: seed.data, dims: seed.shape }, grad: npy(`${name}.grad.npy`).data };
}

test('fused-net as PyTorch exported it: gradient against float64 PyTorch autograd', async (t) => {
  const f = fixture('fused-net');
  const { grad } = await gradientOf('fused-net.onnx', f.x, f.seed);
  assertClose(t, grad.data, f.grad, 2);
});

test("fused-net as ONNX Runtime's optimiser saved it (FusedConv, FusedGemm): the same gradient as the export, and PyTorch's", async (t) => {
  const f = fixture('fused-net');
  const optimised = await gradientOf('fused-net.ort.onnx', f.x, f.seed);
  const ops = optimised.loaded.model.graph.nodes.filter((n) => n.domain === 'com.microsoft').map((n) => n.opType);
  assert.ok(ops.includes('FusedConv') && ops.includes('FusedGemm'), `contrib ops in the fixture: ${ops.join(', ')}`);
  assertClose(t, optimised.grad.data, f.grad, 2);
  const exported = await gradientOf('fused-net.onnx', f.x, f.seed);
  assert.ok(
    relErr(optimised.grad.data, exported.grad.data) <= 1e-5,
    `relative error to the export's gradient ${relErr(optimised.grad.data, exported.grad.data)}`,
  );
});

test('Guided Backprop reaches the ReLUs ONNX Runtime fused into FusedConv/FusedGemm: the same result as on the export', async () => {
  const f = fixture('fused-net');
  const optimised = await gradientOf('fused-net.ort.onnx', f.x, f.seed, guidedReluPolicy);
  const exported = await gradientOf('fused-net.onnx', f.x, f.seed, guidedReluPolicy);
  const plain = await gradientOf('fused-net.onnx', f.x, f.seed);
  assert.ok(relErr(exported.grad.data, plain.grad.data) > 1e-2, 'guided and plain gradients differ on this model');
  assert.ok(
    relErr(optimised.grad.data, exported.grad.data) <= 1e-5,
    `relative error to the export's guided gradient ${relErr(optimised.grad.data, exported.grad.data)}`,
  );
});

test("fused-net as ONNX Runtime's optimiser saved it: directional finite differences of its own forward", async () => {
  const f = fixture('fused-net');
  const { grad, loaded } = await gradientOf('fused-net.ort.onnx', f.x, f.seed);
  const forward = await Session.create(encodeModel(modelToProto(loaded.model)), { threads: 1 });
  try {
    const L = async (data: Float32Array) => {
      const out = Object.values(await forward.run({ [loaded.input]: { data, dims: f.x.dims } }))[0];
      return dot((out as { data: Float32Array }).data, f.seed.data);
    };
    // A small step (ReLU kinks of near-zero pre-activations) and a bound of 2% (float32 rounding
    // of the forward pass at that step); the 1e-4 agreement with float64 PyTorch above is the tight check.
    const h = 2e-4;
    for (let k = 0; k < 2; k++) {
      const d = seededNormal(70 + k, f.x.data.length);
      const plus = f.x.data.map((v, i) => v + h * (d[i] as number));
      const minus = f.x.data.map((v, i) => v - h * (d[i] as number));
      const fd = ((await L(plus)) - (await L(minus))) / (2 * h);
      const analytic = dot(grad.data, d);
      assert.ok(Math.abs(fd - analytic) <= 2e-2 * Math.abs(analytic), `direction ${k}: finite difference ${fd}, analytic ${analytic}`);
    }
  } finally {
    await forward.release();
  }
});

test('fp16-net (float16 weights, input and output) computes in float32: gradient against the float64 graph evaluation', async (t) => {
  const f = fixture('fp16-net');
  const { grad, loaded } = await gradientOf('fp16-net.onnx', f.x, f.seed);
  assert.deepEqual(loaded.convertedFrom, [DataType.FLOAT16]);
  assertClose(t, grad.data, f.grad, 2);
});

test('qdq-net (QuantizeLinear/DequantizeLinear): the straight-through gradient, stated as such', async (t) => {
  const f = fixture('qdq-net');
  const { grad, compiled } = await gradientOf('qdq-net.onnx', f.x, f.seed);
  assert.equal(compiled.approximations.length, 1);
  assert.match(compiled.approximations[0] as string, /straight-through/);
  assert.ok(
    grad.data.some((v) => v === 0),
    'saturated inputs get a zero gradient',
  );
  assertClose(t, grad.data, f.grad, 2);
});

for (const opset of [12, 13, 17]) {
  test(`ops-net at opset ${opset} (PReLU, ELU, SELU, CELU, Mish, GroupNorm, InstanceNorm, LRN, interpolation, PixelShuffle, …): gradient against float64 PyTorch autograd`, async (t) => {
    const f = fixture(`ops-net-op${opset}`);
    const { grad } = await gradientOf(`ops-net-op${opset}.onnx`, f.x, f.seed);
    assertClose(t, grad.data, f.grad, 2);
  });
}
