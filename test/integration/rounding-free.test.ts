// The graph a QDQ model's self-check differentiates (src/models/rounding-free.ts): each
// QuantizeLinear→DequantizeLinear pair becomes the clamp it is without Round. Checked by running
// it: per-axis int8 quantisation whose range some inputs exceed, against the clamp in JavaScript
// and against the quantised pair (which differs from it by at most half a step where it does not saturate).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attr } from '../../src/onnx/attributes.js';
import { type Model, modelToProto } from '../../src/onnx/ir.js';
import { encodeModel } from '../../src/onnx/proto.js';
import { withoutRounding } from '../../src/models/rounding-free.js';
import { Session } from '../../src/runtime/ort.js';
import { probeShapes } from '../../src/runtime/shape-probe.js';
import { graphModel, seededNormal } from '../helpers/tiny-graph.js';

const SCALE = [0.01, 0.03];
const ZERO = [5, -20];

/** x [N,2,3,3] → Q (per channel, int8) → DQ → y. */
function pairModel(consumer: 'DequantizeLinear' | 'Identity'): Model {
  const perAxis = { axis: attr.int(1) };
  return graphModel({
    x: [2, 3, 3],
    opset: 13,
    nodes: [
      { opType: 'QuantizeLinear', inputs: ['x', 's', 'z'], outputs: ['q'], attrs: perAxis },
      consumer === 'DequantizeLinear'
        ? { opType: 'DequantizeLinear', inputs: ['q', 's', 'z'], outputs: ['y'], attrs: perAxis }
        : { opType: 'Identity', inputs: ['q'], outputs: ['y'], attrs: {} },
    ],
    initializers: { s: { float: SCALE, dims: [2] }, z: { int8: ZERO, dims: [2] } },
  });
}

async function run(model: Model, x: Float32Array): Promise<Float32Array> {
  const session = await Session.create(encodeModel(modelToProto(model)), { threads: 1 });
  try {
    return (await session.run({ x: { data: x, dims: [2, 2, 3, 3] } }))['y']?.data as Float32Array;
  } finally {
    await session.release();
  }
}

test('a per-axis int8 Q→DQ pair becomes its clamp: the quantised values but for rounding, the same saturation', async () => {
  const model = pairModel('DequantizeLinear');
  const free = withoutRounding(model, await probeShapes(model, { threads: 1 }));
  assert.ok('model' in free, JSON.stringify(free));
  assert.equal(free.pairs, 1);
  assert.ok(!free.model.graph.nodes.some((n) => n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear'));
  assert.deepEqual(free.facts.shapes.get('y'), ['N', 2, 3, 3]);
  const x = seededNormal(5, 36).map((v) => 3 * v);
  const [quantised, clamped] = [await run(model, x), await run(free.model, x)];
  let saturated = 0;
  for (let i = 0; i < x.length; i++) {
    const c = Math.floor(i / 9) % 2;
    const [s, z] = [SCALE[c] as number, ZERO[c] as number];
    const q = (x[i] as number) / s + z;
    const expected = (Math.min(127, Math.max(-128, q)) - z) * s;
    assert.ok(Math.abs((clamped[i] as number) - expected) < 1e-6, `element ${i}: ${clamped[i]} against ${expected}`);
    assert.ok(Math.abs((quantised[i] as number) - (clamped[i] as number)) <= s / 2 + 1e-6, `element ${i}: quantised ${quantised[i]}, clamped ${clamped[i]}`);
    if (q < -128 || q > 127) saturated++;
  }
  assert.ok(saturated > 0 && saturated < x.length, `${saturated} of ${x.length} saturate`);
});

test('a QuantizeLinear that feeds another op than DequantizeLinear: no rounding-free graph, and why', async () => {
  const model = pairModel('Identity');
  const free = withoutRounding(model, { shapes: new Map(), values: new Map(), types: new Map() });
  assert.ok('reason' in free);
  assert.match(free.reason, /QuantizeLinear n0_QuantizeLinear feeds ops other than DequantizeLinear/);
});
