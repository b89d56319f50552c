#!/usr/bin/env node
// A model's graph without its large weights, and back. The GPU check runs on a host that may have
// neither PyTorch nor room to carry 100 MB: `strip` keeps every node, shape and small tensor and
// drops the data of float tensors ≥ 64 KiB; `fill` gives them seeded He-normal values
// (N(0, 2/fan_in), fan_in = product of the dims after the first), so activations stay in range.
// The bench's models have random weights anyway; the check compares CPU and GPU on the same one.
//
//   node tools/gpu-check/skeleton.mjs strip MODEL.onnx OUT.skeleton.onnx
//   node tools/gpu-check/skeleton.mjs fill OUT.skeleton.onnx MODEL.onnx
import { readFileSync, writeFileSync } from 'node:fs';
import { decodeModel, encodeModel } from '../../dist/src/onnx/proto.js';
import { Rng } from '../../dist/src/methods/rng.js';

const STRIPPED = 'gpu-check:stripped';
const [mode, from, to] = process.argv.slice(2);
if (!['strip', 'fill'].includes(mode ?? '') || !from || !to) {
  console.error('usage: skeleton.mjs strip|fill IN.onnx OUT.onnx');
  process.exit(2);
}
const model = decodeModel(readFileSync(from));
let count = 0;
for (const t of model.graph?.initializer ?? []) {
  const dims = (t.dims ?? []).map(Number);
  if (mode === 'strip' && t.dataType === 1 && (t.rawData?.length ?? 0) >= 64 * 1024) {
    t.rawData = new Uint8Array(0);
    t.docString = STRIPPED;
    count++;
  } else if (mode === 'fill' && t.docString === STRIPPED) {
    const size = dims.reduce((a, b) => a * b, 1);
    const fanIn = dims.slice(1).reduce((a, b) => a * b, 1) || 1;
    const values = new Rng(1000 + count).fillNormal(new Float32Array(size), Math.sqrt(2 / fanIn));
    t.rawData = new Uint8Array(values.buffer);
    t.docString = '';
    count++;
  }
}
writeFileSync(to, encodeModel(model));
console.error(`skeleton: ${mode} ${count} tensors → ${to}`);
