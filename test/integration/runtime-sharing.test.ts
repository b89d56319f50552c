// One copy of a model's weights for all its sessions, and the LRU that bounds sessions and models.
// Memory itself is measured by `npm run bench memory`; here only the structure: every session of a
// model reads the same stored tensors, derived tensors equal in content are stored once, an
// evicted session is rebuilt and gives the same numbers, an evicted model is closed.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { explain } from '../../src/methods/explain.js';
import { attr } from '../../src/onnx/attributes.js';
import { PREPACK_MAX_BYTES, type SessionCreated, contextForModel } from '../../src/runtime/model-context.js';
import { SessionPool } from '../../src/runtime/session-pool.js';
import { EXTERNAL_MIN_BYTES } from '../../src/runtime/weight-store.js';
import { graphModel, seededNormal } from '../helpers/tiny-graph.js';

const C = 64; // 64·64·3·3 floats = 147 KB: a filter large enough to be shared
const CLASSES = 4;
const dir = mkdtempSync(join(tmpdir(), 'saliency-sharing-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Conv 3×3 (stride 1: its backward is a Conv with flipped filters) → ReLU → mean pool → MatMul. */
function convModel() {
  return graphModel({
    x: [C, 4, 4],
    opset: 17,
    initializers: {
      w: { float: seededNormal(1, C * C * 9).map((v) => v * 0.1), dims: [C, C, 3, 3] },
      head: { float: seededNormal(2, C * CLASSES), dims: [C, CLASSES] },
    },
    nodes: [
      { opType: 'Conv', inputs: ['x', 'w'], outputs: ['z'], attrs: { pads: attr.ints([1, 1, 1, 1]) } },
      { opType: 'Relu', inputs: ['z'], outputs: ['h'], attrs: {} },
      { opType: 'GlobalAveragePool', inputs: ['h'], outputs: ['p'], attrs: {} },
      { opType: 'Flatten', inputs: ['p'], outputs: ['f'], attrs: {} },
      { opType: 'MatMul', inputs: ['f', 'head'], outputs: ['y'], attrs: {} },
    ],
  });
}

const x = { data: seededNormal(3, C * 16), dims: [1, C, 4, 4] };

test('every session of a model reads its large weights from one stored copy', async () => {
  const ctx = await contextForModel(convModel(), { threads: 1, weightsDir: dir });
  try {
    for (const method of ['gradient', 'guided-backprop', 'smoothgrad', 'smoothdiff', 'grad-cam'] as const) {
      await explain(ctx, { x, params: { method, samples: 3, seed: 1 }, targets: [1] });
    }
    const sessions = ctx.sessionInfo();
    assert.ok(sessions.length >= 5, `sessions: ${sessions.map((s) => s.key).join(', ')}`);
    for (const s of sessions) {
      assert.ok(s.shared, `${s.key} reads the shared file`);
      assert.ok(s.sharedBytes >= C * C * 9 * 4, `${s.key} refers to the filter in the shared file`);
      assert.ok(s.inlineBytes < EXTERNAL_MIN_BYTES, `${s.key} holds ${s.inlineBytes} bytes of its own`);
    }
    // The filter, and its flipped copy for the backward Conv: each compiled variant derives the
    // flipped filter again under its own name, and it is stored once.
    assert.equal(ctx.weightFile().tensors, 2);
    assert.equal(ctx.weightFile().bytes, 4096 * Math.ceil((C * C * 9 * 4) / 4096) + C * C * 9 * 4);
    assert.equal(readdirSync(dir).length, 1, 'one weight folder, graph files removed once loaded');
  } finally {
    await ctx.close();
  }
  assert.equal(readdirSync(dir).length, 0, 'closing removes the weight file');
});

test('shared weights give the numbers of weights given inline', async () => {
  const shared = await contextForModel(convModel(), { threads: 1, weightsDir: dir });
  const inline = await contextForModel(convModel(), { threads: 1, weightsDir: dir, shareWeights: false });
  try {
    for (const method of ['gradient', 'smoothgrad'] as const) {
      const params = { method, samples: 4, seed: 7 };
      const a = await explain(shared, { x, params, targets: [2] });
      const b = await explain(inline, { x, params, targets: [2] });
      a.attribution.data.forEach((v, i) =>
        assert.ok(
          Math.abs(v - (b.attribution.data[i] as number)) <= 1e-6 * Math.max(1, Math.abs(v)),
          `${method} element ${i}: ${v} vs ${b.attribution.data[i]}`,
        ),
      );
    }
    assert.ok(inline.sessionInfo().every((s) => !s.shared && s.inlineBytes >= C * C * 9 * 4));
    assert.equal(inline.weightFile().tensors, 0);
  } finally {
    await shared.close();
    await inline.close();
  }
});

test('sessions on shared weights pre-pack them only when the copy is small, with the same numbers', async () => {
  const model = convModel();
  const x = { data: Float32Array.from(seededNormal(3, C * 16)), dims: [1, C, 4, 4] };
  const run = async (prepackMaxBytes: number) => {
    const sessions: SessionCreated[] = [];
    const ctx = await contextForModel(model, { threads: 1, weightsDir: dir, onSession: (s) => sessions.push(s), prepackMaxBytes });
    try {
      const r = await explain(ctx, { x, params: { method: 'gradient' }, targets: [1] });
      return { attribution: r.attribution.data, sessions };
    } finally {
      await ctx.close();
    }
  };
  // The head is C·CLASSES floats (1 KB): under the default limit, over a limit of 100 bytes.
  const small = await run(PREPACK_MAX_BYTES);
  const large = await run(100);
  assert.ok(small.sessions.length > 0 && small.sessions.every((s) => s.shared && s.prepacked));
  assert.ok(large.sessions.length > 0 && large.sessions.every((s) => s.shared && !s.prepacked));
  assert.deepEqual(small.attribution, large.attribution);
});

test('the LRU evicts idle sessions past the limit and rebuilds them on their next run', async () => {
  const budget = 1 << 20;
  // Room for the model and about one session (each is charged its activation budget).
  const pool = new SessionPool(2 * budget);
  const ctx = await contextForModel(convModel(), { threads: 1, weightsDir: dir, pool, budgetBytes: budget, label: 'conv' });
  try {
    const first = await explain(ctx, { x, params: { method: 'gradient' }, targets: [1] });
    await explain(ctx, { x, params: { method: 'guided-backprop' }, targets: [1] });
    const info = () => Object.fromEntries(ctx.sessionInfo().map((s) => [s.key, s]));
    assert.equal(info()['fused:standard']?.resident, false, 'the gradient session was evicted');
    assert.equal(info()['fused:guided']?.resident, true);
    assert.ok(pool.usedBytes <= 2 * budget + ctx.weightFile().bytes, `${pool.usedBytes} bytes charged`);
    const again = await explain(ctx, { x, params: { method: 'gradient' }, targets: [1] });
    assert.equal(info()['fused:standard']?.builds, 2, 'rebuilt once');
    assert.equal(info()['fused:guided']?.resident, false, 'and the guided session made room');
    assert.deepEqual(again.attribution.data, first.attribution.data);
  } finally {
    await ctx.close();
  }
  assert.equal(pool.usedBytes, 0, 'a closed context leaves nothing charged');
});

test('the LRU closes the least recently used model when another needs the room', async () => {
  const budget = 1 << 20;
  // Room for one model and its session, not for two models: evicting a's session is not enough.
  const pool = new SessionPool(1.5 * budget);
  let evicted = 0;
  const a = await contextForModel(convModel(), { threads: 1, weightsDir: dir, pool, budgetBytes: budget, label: 'a', onEvicted: () => evicted++ });
  const b = await contextForModel(convModel(), { threads: 1, weightsDir: dir, pool, budgetBytes: budget, label: 'b' });
  try {
    await explain(a, { x, params: { method: 'gradient' }, targets: [0] });
    // A run touches its session, then its model: a model outlives its sessions in the LRU order.
    assert.deepEqual(pool.labels(), ['a/fused:standard', 'model:a']);
    await explain(b, { x, params: { method: 'gradient' }, targets: [0] });
    assert.equal(evicted, 1, 'model a was closed');
    assert.deepEqual(pool.labels(), ['b/fused:standard', 'model:b']);
    await assert.rejects(explain(a, { x, params: { method: 'guided-backprop' }, targets: [0] }), /closed/);
  } finally {
    await a.close();
    await b.close();
  }
});

test('the pool never evicts an entry that is busy, and admits one larger than the limit alone', async () => {
  const evictions: string[] = [];
  const pool = new SessionPool(10, (e) => evictions.push(e.label));
  const entry = (label: string, bytes: number, busy = false) => ({ label, bytes, busy: () => busy, evict: async () => {} });
  const a = entry('a', 6, true);
  const b = entry('b', 6);
  const c = entry('c', 6);
  await pool.admit(a);
  await pool.admit(b);
  assert.deepEqual(evictions, [], 'a is busy and b is being admitted: over the limit, nothing to evict');
  await pool.admit(c);
  assert.deepEqual(evictions, ['b']);
  pool.touch(a);
  assert.deepEqual(pool.labels(), ['c', 'a']);
  const huge = entry('huge', 100);
  await pool.admit(huge);
  assert.deepEqual(evictions, ['b', 'c']);
  assert.deepEqual(pool.labels(), ['a', 'huge']);
});

test('a weight folder that cannot be created leaves the weights inline, and the method runs', async () => {
  const blocked = join(dir, 'not-a-folder');
  writeFileSync(blocked, '');
  const ctx = await contextForModel(convModel(), { threads: 1, weightsDir: join(blocked, 'weights') });
  try {
    const r = await explain(ctx, { x, params: { method: 'gradient' }, targets: [1] });
    assert.ok(r.attribution.data.some((v) => v !== 0));
    assert.deepEqual(
      ctx.sessionInfo().map((s) => s.shared),
      [false],
    );
  } finally {
    await ctx.close();
  }
});
