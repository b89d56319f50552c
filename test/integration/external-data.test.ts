// Models whose weights live in external data files load (and cannot reach outside their folder).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { inputGradient } from '../../src/gradgraph/index.js';
import { modelFromProto } from '../../src/onnx/ir.js';
import { encodeModel, readModel } from '../../src/onnx/proto.js';
import { floatValues } from '../../src/onnx/tensor.js';
import { compileSession, loadModel } from '../../src/runtime/gradient-model.js';
import { FIXTURES } from '../helpers/paths.js';

const work = mkdtempSync(join(tmpdir(), 'saliency-external-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Moves every initializer of a fixture into one external file, as onnx.save_model(..., save_as_external_data=True) does. */
function externalise(source: string, target: string, location: string): void {
  const proto = readModel(source);
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const t of proto.graph?.initializer ?? []) {
    const bytes = Buffer.from(t.rawData ?? new Uint8Array(0));
    t.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(bytes.length) },
    ];
    t.dataLocation = 1;
    t.rawData = new Uint8Array(0);
    chunks.push(bytes);
    offset += bytes.length;
  }
  writeFileSync(join(work, location), Buffer.concat(chunks));
  writeFileSync(target, encodeModel(proto));
}

test('a model with external data loads, compiles and gives the same gradient', async () => {
  const source = join(FIXTURES, 'models', 'resnet-basic-op17.onnx');
  const target = join(work, 'model.onnx');
  externalise(source, target, 'weights.bin');
  assert.ok(readFileSync(target).length < readFileSync(source).length / 4, 'the weights left the .onnx file');
  const inline = modelFromProto(readModel(source));
  const loaded = modelFromProto(readModel(target));
  for (const [name, t] of inline.graph.initializers) {
    const other = loaded.graph.initializers.get(name);
    assert.ok(other);
    if (t.dataType === 1) assert.deepEqual(floatValues(other), floatValues(t));
  }
  const model = await loadModel(target, { threads: 1 });
  const { compiled, session } = await compileSession(model, { threads: 1 });
  const x = { data: new Float32Array(2 * 3 * 32 * 32).fill(0.1), dims: [2, 3, 32, 32] };
  const seed = { data: new Float32Array(20).fill(0.1), dims: [2, 10] };
  const out = await session.run({ [compiled.input]: x, [compiled.seed]: seed });
  assert.ok(out[inputGradient(compiled)]?.data.some((v) => v !== 0));
  await session.release();
});

test('external data that points outside the model folder is refused', () => {
  const proto = readModel(join(FIXTURES, 'models', 'resnet-basic-op17.onnx'));
  const t = proto.graph?.initializer?.[0];
  assert.ok(t);
  t.externalData = [{ key: 'location', value: '../../etc/passwd' }];
  t.dataLocation = 1;
  const path = join(work, 'evil.onnx');
  writeFileSync(path, encodeModel(proto));
  assert.throws(() => readModel(path), /leaves the model's folder/);
});
