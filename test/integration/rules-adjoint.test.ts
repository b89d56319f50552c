// Adjoint tests of the linear (and affine) rules: for random x and a random cotangent g,
// ⟨f(x) − f(0), g⟩ = ⟨x, f*(g)⟩, where f*(g) is the compiled graph's input gradient with seed g.
// No reference framework: the forward op is ONNX Runtime's own, the backward is ours.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BackwardPolicy } from '../../src/gradgraph/policy.js';
import { attr } from '../../src/onnx/attributes.js';
import { type Model } from '../../src/onnx/ir.js';
import { GradHarness, absDot, dot, maxAbs, seededNormal, size } from '../helpers/tiny-graph.js';
import { adjointCases as cases, op } from './rules-adjoint.cases.js';

const tol = 1e-5;

async function checkAdjoint(model: Model, batch = 2, trials = 2, policy?: BackwardPolicy, runAs?: (m: Model) => Model): Promise<void> {
  const h = await GradHarness.create(model, { explainSoftmaxInput: false, ...(policy ? { policy } : {}), ...(runAs ? { runAs } : {}) });
  try {
    assert.equal(h.compiled.explained, 'y');
    const sample = (model.graph.inputs[0]?.dims ?? []).slice(1) as number[];
    const dims = [batch, ...sample];
    const zero = await h.forward({ data: new Float32Array(size(dims)), dims });
    for (let t = 0; t < trials; t++) {
      const x = { data: seededNormal(1000 + t, size(dims)), dims };
      const y = await h.forward(x);
      assert.deepEqual(y.dims, zero.dims);
      const fx = Float64Array.from(y.data, (v, i) => v - (zero.data[i] as number));
      const g = { data: seededNormal(2000 + t, y.data.length), dims: y.dims };
      const grad = await h.gradient(x, g);
      assert.deepEqual(grad.dims, dims, 'the gradient has the input shape');
      assert.ok(maxAbs(fx) > 0 && maxAbs(grad.data) > 0, 'degenerate case: f(x) − f(0) or the gradient is all zero');
      const lhs = dot(fx, g.data);
      const rhs = dot(x.data, grad.data);
      const scale = absDot(fx, g.data) + absDot(x.data, grad.data);
      const err = Math.abs(lhs - rhs) / scale;
      assert.ok(err <= tol, `trial ${t}: <f(x), g> = ${lhs}, <x, f*(g)> = ${rhs}, relative difference ${err.toExponential(2)} > ${tol}`);
    }
  } finally {
    await h.release();
  }
}

for (const c of cases) {
  test(`adjoint: ${c.name}`, c.todo ? { todo: c.todo } : {}, async () => {
    await checkAdjoint(c.model, 2, 2, undefined, c.runAs);
  });
}

test('slices that tile an axis get one Concat of their cotangents, no Pad', async () => {
  const tiling = cases.find((c) => c.name.startsWith('Slice ×3 tiling'));
  const gap = cases.find((c) => c.name.startsWith('Slice ×2 with a gap'));
  for (const [c, concatenated] of [
    [tiling, true],
    [gap, false],
  ] as const) {
    const h = await GradHarness.create((c as (typeof cases)[number]).model, { explainSoftmaxInput: false });
    try {
      const added = h.compiled.model.graph.nodes.slice((c as (typeof cases)[number]).model.graph.nodes.length).map((n) => n.opType);
      assert.equal(added.includes('Pad'), !concatenated, added.join(' '));
    } finally {
      await h.release();
    }
  }
});

test('the adjoint check rejects a wrong rule (Transpose backward with the permutation instead of its inverse)', async () => {
  const wrongTranspose: BackwardPolicy = {
    overrides: {
      Transpose: {
        differentiable: [0],
        backward(ctx) {
          ctx.give(0, ctx.b.transpose(ctx.gradOut(0) as string, [0, 2, 3, 1]));
        },
      },
    },
  };
  const model = op('Transpose', 13, [3, 3, 3], ['x'], { perm: attr.ints([0, 2, 3, 1]) });
  await checkAdjoint(model);
  await assert.rejects(checkAdjoint(model, 2, 1, wrongTranspose), /relative difference/);
});
