// Models as found outside PyTorch's opset 12–17 exports: one small network (fixtures from
// tools/fixtures/make_opset_fixtures.py) at opsets 7, 9, 10, 11, 13, 17 and rewritten to 18–23,
// with the same weights as a fixed batch of 1, with weights listed as graph inputs, with NHWC
// input and with a Softmax output. For each file: ONNX Runtime runs it as written and agrees with
// PyTorch's logits; the opset-normalised model computes exactly the same logits; and the input
// gradient matches PyTorch autograd in float64 (cosine ≥ 0.9999, relative error ≤ max(1e-3,
// 2× PyTorch float32's own error)), and our own opset-17 gradient.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { inputGradient } from '../../src/gradgraph/index.js';
import { decodeNpy } from '../../src/imaging/npy.js';
import { oneHotSeed } from '../../src/methods/targets.js';
import { modelFromProto, modelToProto } from '../../src/onnx/ir.js';
import { normaliseOpset } from '../../src/onnx/normalise-opset.js';
import { encodeModel, readModel } from '../../src/onnx/proto.js';
import { compileSession, loadModel } from '../../src/runtime/gradient-model.js';
import { Session } from '../../src/runtime/ort.js';
import { perSample } from '../helpers/compare.js';
import { FIXTURES } from '../helpers/paths.js';

interface FormsFixture {
  name: string;
  file: string;
  opset: number;
  variant: 'opset' | 'upsample' | 'fixed-batch' | 'initializers-as-inputs' | 'nhwc' | 'softmax-output' | 'symbolic-spatial';
  x: string;
  logits: string;
  grad?: string;
  targets: number[];
  fp32VsFp64RelErr: number;
  batch?: number;
  layout?: 'NHWC';
}

const dir = join(FIXTURES, 'opsets');
const fixtures = (JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { forms: FormsFixture[] }).forms;
const npy = (file: string) => decodeNpy(readFileSync(join(dir, file)));

/** NCHW [n,c,h,w] → NHWC [n,h,w,c]. */
function toNhwc(data: Float32Array, [n, c, h, w]: number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let b = 0; b < (n as number); b++)
    for (let k = 0; k < (c as number); k++)
      for (let y = 0; y < (h as number); y++)
        for (let x = 0; x < (w as number); x++)
          out[((b * (h as number) + y) * (w as number) + x) * (c as number) + k] = data[
            ((b * (c as number) + k) * (h as number) + y) * (w as number) + x
          ] as number;
  return out;
}

/** The fixture's input, reference logits and reference gradient, in its layout and batch. */
interface Inputs {
  x: Float32Array;
  dims: number[];
  logits: Float32Array;
  grad: Float32Array | undefined;
  targets: number[];
}

function inputsOf(f: FormsFixture): Inputs {
  const x = npy(f.x);
  const logits = npy(f.logits);
  const grad = f.grad ? npy(f.grad).data : undefined;
  const batch = f.batch ?? (x.shape[0] as number);
  const per = x.data.length / (x.shape[0] as number);
  const classes = logits.shape[1] as number;
  let data: Float32Array = x.data.slice(0, batch * per);
  let g: Float32Array | undefined = grad?.slice(0, batch * per);
  let dims = [batch, ...x.shape.slice(1)];
  if (f.layout === 'NHWC') {
    data = toNhwc(data, dims);
    g = g && toNhwc(g, dims);
    dims = [batch, dims[2] as number, dims[3] as number, dims[1] as number];
  }
  return { x: data, dims, logits: logits.data.slice(0, batch * classes), grad: g, targets: f.targets.slice(0, batch) };
}

function softmaxRows(logits: Float32Array, batch: number): Float32Array {
  const k = logits.length / batch;
  const out = new Float32Array(logits.length);
  for (let b = 0; b < batch; b++) {
    const row = logits.subarray(b * k, (b + 1) * k);
    const max = Math.max(...row);
    const total = row.reduce((a, v) => a + Math.exp(v - max), 0);
    row.forEach((v, i) => (out[b * k + i] = Math.exp(v - max) / total));
  }
  return out;
}

function assertClose(actual: Float32Array, expected: Float32Array, batch: number, cosine: number, relErr: number, what: string): void {
  perSample(actual, expected, batch).forEach((s, i) => {
    const detail = `${what} sample ${i}: cosine ${s.cosine}, relative L2 error ${s.relErr}`;
    assert.ok(s.cosine >= cosine, detail);
    assert.ok(s.relErr <= relErr, detail);
  });
}

test('opset fixtures cover opsets 7, 9, 10, 11 and 18–21 and every variant', () => {
  for (const opset of [7, 9, 10, 11, 13, 17, 18, 19, 20, 21, 22, 23])
    assert.ok(
      fixtures.some((f) => f.variant === 'opset' && f.opset === opset),
      `no opset-${opset} fixture`,
    );
  for (const opset of [7, 9, 10, 11])
    assert.ok(
      fixtures.some((f) => f.variant === 'upsample' && f.opset === opset),
      `no opset-${opset} Upsample/Resize fixture`,
    );
  for (const v of ['fixed-batch', 'initializers-as-inputs', 'nhwc', 'softmax-output', 'symbolic-spatial'])
    assert.ok(
      fixtures.some((f) => f.variant === v),
      `no ${v} fixture`,
    );
});

const gradients17 = new Map<string, Float32Array>();

for (const f of fixtures) {
  test(`${f.name}: ONNX Runtime runs the file as written, and the normalised model computes the same logits`, async () => {
    const { x, dims, logits } = inputsOf(f);
    const source = modelFromProto(readModel(join(dir, f.file)));
    const input = source.graph.inputs[0]?.name ?? '';
    const run = async (bytes: Uint8Array) => {
      const session = await Session.create(bytes, { threads: 1 });
      try {
        return (await session.run({ [input]: { data: x, dims } }))['logits'];
      } finally {
        await session.release();
      }
    };
    const original = await run(readFileSync(join(dir, f.file)));
    assert.ok(original);
    const want = f.variant === 'softmax-output' ? softmaxRows(logits, dims[0] as number) : logits;
    assertClose(original.data, want, dims[0] as number, 0.999999, 1e-5, `${f.name} outputs vs PyTorch`);
    const { model, originalOpset } = normaliseOpset(source);
    assert.equal(originalOpset, f.opset);
    assert.equal(model.opset, Math.max(f.opset, 11));
    const normalised = await run(encodeModel(modelToProto(model)));
    assert.ok(normalised);
    assert.deepEqual(normalised.dims, original.dims);
    // Equal up to float32 rounding: the runtime folds and fuses the two graphs differently (a
    // weight that is also a graph input, for one, is not folded into its Conv).
    assertClose(normalised.data, original.data, dims[0] as number, 0.99999999, 1e-6, `${f.name}: normalised vs original logits`);
  });

  test(`${f.name}: gradient matches PyTorch autograd in float64`, async () => {
    const { x, dims, logits, grad, targets } = inputsOf(f);
    const expected = grad ?? npy('forms.grad64.npy').data;
    const loaded = await loadModel(join(dir, f.file), { threads: 1, inputShape: dims.slice(1) });
    const { compiled, session } = await compileSession(loaded, { threads: 1 });
    try {
      const seed = oneHotSeed(targets, logits.length / targets.length);
      const out = await session.run({ [compiled.input]: { data: x, dims }, [compiled.seed]: seed });
      const g = out[inputGradient(compiled)];
      assert.ok(g);
      assert.deepEqual(g.dims, dims);
      const bound = Math.max(1e-3, 2 * f.fp32VsFp64RelErr);
      if (f.variant !== 'upsample') assertClose(g.data, expected, targets.length, 0.9999, bound, `${f.name} gradient vs float64 PyTorch`);
      if (f.variant === 'opset') {
        if (f.opset === 17) gradients17.set('forms', g.data);
        const at17 = gradients17.get('forms');
        if (at17) assertClose(g.data, at17, targets.length, 0.999999, 1e-5, `${f.name} gradient vs the opset-17 file's`);
      }
    } finally {
      await session.release();
    }
  });
}

// The rewritten opsets (PyTorch never wrote these files) also by central finite differences of
// the forward pass as ONNX Runtime runs the file: ⟨∇f, v⟩ ≈ (f(x + hv) − f(x − hv)) / 2h for
// f = logits[0,3] + logits[1,7] along random directions v.
for (const f of fixtures.filter((g) => g.variant === 'opset' && (g.opset === 7 || g.opset >= 18))) {
  test(`${f.name}: directional derivatives match finite differences`, async () => {
    const { x, dims, logits, targets } = inputsOf(f);
    const classes = logits.length / targets.length;
    const loaded = await loadModel(join(dir, f.file), { threads: 1 });
    const { compiled, session } = await compileSession(loaded, { threads: 1 });
    const forward = await Session.create(readFileSync(join(dir, f.file)), { threads: 1 });
    try {
      const out = await session.run({ [compiled.input]: { data: x, dims }, [compiled.seed]: oneHotSeed(targets, classes) });
      const g = (out[inputGradient(compiled)] as { data: Float32Array }).data;
      const objective = async (at: Float32Array) => {
        const y = (await forward.run({ [compiled.input]: { data: at, dims } }))['logits']?.data as Float32Array;
        return targets.reduce((sum, t, b) => sum + (y[b * classes + t] as number), 0);
      };
      let state = 12345;
      const random = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5;
      for (let k = 0; k < 3; k++) {
        const v = Float32Array.from(x, () => random());
        const h = 1e-3;
        const plus = await objective(Float32Array.from(x, (xi, i) => xi + h * (v[i] as number)));
        const minus = await objective(Float32Array.from(x, (xi, i) => xi - h * (v[i] as number)));
        const fd = (plus - minus) / (2 * h);
        const analytic = g.reduce((sum, gi, i) => sum + gi * (v[i] as number), 0);
        // Scale: the typical size of ⟨g, v⟩ for a random v (a near-orthogonal v has a tiny one).
        const scale = Math.max(Math.abs(analytic), Math.sqrt((g.reduce((a, gi) => a + gi * gi, 0) * v.reduce((a, vi) => a + vi * vi, 0)) / g.length));
        assert.ok(Math.abs(fd - analytic) <= 1e-2 * scale, `${f.name} direction ${k}: finite difference ${fd}, gradient ${analytic} (scale ${scale})`);
      }
    } finally {
      await session.release();
      await forward.release();
    }
  });
}
