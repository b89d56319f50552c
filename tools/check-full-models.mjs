// @ts-check
// Compares our compiled gradients of the full-size torchvision models with PyTorch autograd.
// Run by hand (not in CI; the models are 2 GB):
//   /usr/bin/python3 tools/fixtures/make_gradient_fixtures.py --full .cache/full
//   npm run build && node tools/check-full-models.mjs .cache/full
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inputGradient } from '../dist/src/gradgraph/index.js';
import { decodeNpy } from '../dist/src/imaging/npy.js';
import { oneHotSeed } from '../dist/src/methods/targets.js';
import { compileSession, loadModel } from '../dist/src/runtime/gradient-model.js';
import { perSample } from '../dist/test/helpers/compare.js';

const dir = process.argv[2] ?? '.cache/full';
const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
console.log('| model | input | cosine (s0, s1) | rel. L2 error (s0, s1) | PyTorch fp32 vs fp64 |');
console.log('|---|---|---|---|---|');
for (const entry of index) {
  const x = decodeNpy(readFileSync(join(dir, `${entry.name}.x.npy`)));
  const expected = decodeNpy(readFileSync(join(dir, `${entry.name}.grad.npy`)));
  const logits = decodeNpy(readFileSync(join(dir, `${entry.name}.logits.npy`)));
  const loaded = await loadModel(join(dir, entry.file));
  const { compiled, session } = await compileSession(loaded);
  const out = await session.run({ [compiled.input]: { data: x.data, dims: x.shape }, [compiled.seed]: oneHotSeed(entry.targets, logits.shape[1]) });
  const rows = perSample(out[inputGradient(compiled)].data, expected.data, 2);
  const fmt = (k, f) => rows.map((r) => f(r[k])).join(', ');
  console.log(
    `| ${entry.name} | ${x.shape.slice(1).join('×')} | ${fmt('cosine', (v) => v.toFixed(6))} | ${fmt('relErr', (v) => v.toExponential(2))} | ${entry.fp32VsFp64RelErr?.toExponential?.(2) ?? ''} |`,
  );
  await session.release();
}
