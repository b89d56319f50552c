// Full-size torchvision models at opset 9 and with a fixed batch of 1, against float64 PyTorch
// autograd. Run by hand (the models are not committed). The bar, per model: cosine ≥ 0.9999 on
// every sample, and the relative L2 error, averaged over the samples, within max(1e-3, 2 × PyTorch's
// own float32 error on the same samples). A single sample of a ReLU network can read worse than
// that (near-zero pre-activations flip with rounding: tools/fixtures/README.md), the model's
// average does not. Run:
//   /usr/bin/python3 tools/fixtures/make_opset_fixtures.py --full .cache/opsets-full
//   npm run build && node tools/check-full-opsets.mjs .cache/opsets-full
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeNpy } from '../dist/src/imaging/npy.js';
import { explain } from '../dist/src/methods/explain.js';
import { openModelContext } from '../dist/src/runtime/model-context.js';
import { perSample } from '../dist/test/helpers/compare.js';

const dir = process.argv[2] ?? '.cache/opsets-full';
const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
console.log('| model file | batching | cosine (s0, s1) | rel. L2 error (s0, s1) | PyTorch fp32 vs fp64 (s0, s1) | bound on the mean | verdict |');
console.log('|---|---|---|---|---|---|---|');
const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
let failed = 0;
for (const entry of index) {
  const x = decodeNpy(readFileSync(join(dir, entry.x)));
  const expected = decodeNpy(readFileSync(join(dir, entry.grad)));
  const ctx = await openModelContext(join(dir, entry.file));
  try {
    const r = await explain(ctx, { x: { data: x.data, dims: x.shape }, params: { method: 'gradient' }, targets: entry.targets });
    const rows = perSample(r.attribution.data, expected.data, 2);
    const fmt = (k, f) => rows.map((row) => f(row[k])).join(', ');
    const batching = ctx.fixedBatch === undefined ? 'dynamic' : `fixed ${ctx.fixedBatch}`;
    const bound = Math.max(1e-3, 2 * mean(entry.fp32VsFp64RelErr));
    const ok = rows.every((row) => row.cosine >= 0.9999) && mean(rows.map((row) => row.relErr)) <= bound;
    if (!ok) failed++;
    console.log(
      `| ${entry.file} | ${batching} | ${fmt('cosine', (v) => v.toFixed(6))} | ${fmt('relErr', (v) => v.toExponential(2))} | ${entry.fp32VsFp64RelErr.map((v) => v.toExponential(2)).join(', ')} | ${bound.toExponential(2)} | ${ok ? 'pass' : 'FAIL'} |`,
    );
  } finally {
    await ctx.close();
  }
}
process.exitCode = failed > 0 ? 1 : 0;
