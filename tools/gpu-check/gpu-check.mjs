#!/usr/bin/env node
// The CUDA path, checked on a real GPU (run through run.sh, which installs the CUDA build):
//   1. every session of a CUDA context gets the CUDA provider (no silent CPU fallback: the
//      fallback hook fails the check) and ONNX Runtime's profile shows the kernels on CUDA;
//   2. the gradient on the GPU matches the CPU's (cosine ≥ 0.9999);
//   3. one table: gradient, SmoothGrad n=50 and SmoothDiff n=50 on ResNet-50 for 1 and 16 images;
//   4. a float16 copy of the same ResNet-50 (storeInFloat16) on CUDA with CUDA_PRECISION=model:
//      every session computes in float16 on CUDA, its gradient against the float32 CPU path of
//      the same file (cosine ≥ 0.999), and the gradient's timings beside the float32 model's.
//
//   node tools/gpu-check/gpu-check.mjs --skeleton resnet50.skeleton.onnx --out OUT [--budget-mb 16384] [--repeat 3]
//     [--samples 50] [--images 1,16]
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { explain } from '../../dist/src/methods/explain.js';
import { inputGradient } from '../../dist/src/gradgraph/index.js';
import { oneHotSeed } from '../../dist/src/methods/targets.js';
import { floatToHalf, halfToFloat, storeInFloat16 } from '../../dist/src/onnx/float16.js';
import { modelFromProto, modelToProto } from '../../dist/src/onnx/ir.js';
import { encodeModel, readModel } from '../../dist/src/onnx/proto.js';
import { compileSession, loadModel } from '../../dist/src/runtime/gradient-model.js';
import { openModelContext } from '../../dist/src/runtime/model-context.js';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []));
const out = args.out ?? '.cache/gpu-check/out';
const repeat = Number(args.repeat ?? 3);
const budgetBytes = Number(args['budget-mb'] ?? 16384) * 2 ** 20;
// --samples and --images shrink the run for a dry run of the script itself on a CPU-only machine.
const samples = Number(args.samples ?? 50);
const imageCounts = (args.images ?? '1,16').split(',').map(Number);
mkdirSync(out, { recursive: true });
const modelPath = join(out, 'resnet50.onnx');
execFileSync(process.execPath, [new URL('./skeleton.mjs', import.meta.url).pathname, 'fill', args.skeleton, modelPath], { stdio: 'inherit' });

const failures = [];
const sessions = [];
const cuda = { executionProvider: 'cuda', deviceId: Number(args.device ?? 0), budgetBytes, weightsDir: join(out, 'weights') };
const onFallback = (err) => failures.push(`CUDA provider did not load, the session fell back to the CPU: ${err.message}`);
const gpu = await openModelContext(modelPath, { ...cuda, onFallback, onSession: (s) => sessions.push(s) });
const cpu = await openModelContext(modelPath, { budgetBytes: 1 << 30, weightsDir: join(out, 'weights') });

const sample = gpu.sampleShape;
const size = sample.reduce((a, b) => a * b, 1);
const batch = (n) => ({ data: Float32Array.from({ length: n * size }, (_, i) => Math.sin(i * 0.001 + 0.3 * Math.floor(i / size))), dims: [n, ...sample] });

// 1. Profile of one gradient run on a session of its own.
const loaded = await loadModel(modelPath);
const { compiled, session } = await compileSession(loaded, { ...cuda, onFallback, profilePrefix: join(out, 'profile') });
const classes = loaded.facts.shapes.get(compiled.explained)?.[1];
for (let i = 0; i < 3; i++) await session.run({ [compiled.input]: batch(1), [compiled.seed]: oneHotSeed([0], classes) }, [inputGradient(compiled)]);
session.endProfiling();
await session.release();
const profileFile = readdirSync(out)
  .filter((f) => f.startsWith('profile') && f.endsWith('.json'))
  .sort()
  .pop();
const events = JSON.parse(readFileSync(join(out, profileFile), 'utf8'));
const byProvider = {};
for (const e of events) {
  if (e.cat !== 'Node' || !e.args?.provider || !String(e.name).endsWith('_kernel_time')) continue;
  const p = e.args.provider;
  byProvider[p] ??= { kernels: 0, us: 0 };
  byProvider[p].kernels++;
  byProvider[p].us += e.dur;
}
const onCuda = byProvider.CUDAExecutionProvider?.us ?? 0;
const total = Object.values(byProvider).reduce((a, b) => a + b.us, 0);
if (onCuda === 0) failures.push('the profile shows no kernel on CUDAExecutionProvider');

// 2. The same gradient on both.
const x1 = batch(1);
const g = (await explain(gpu, { x: x1, params: { method: 'gradient' }, targets: [0] })).attribution.data;
const c = (await explain(cpu, { x: x1, params: { method: 'gradient' }, targets: [0] })).attribution.data;
function cosineOf(a, b) {
  let dot = 0,
    aa = 0,
    bb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  // Two zero maps agree.
  return aa === 0 && bb === 0 ? 1 : dot / Math.sqrt(aa * bb);
}
const cosine = cosineOf(g, c);
if (!(cosine >= 0.9999)) failures.push(`GPU and CPU gradients differ: cosine ${cosine}`);
for (const s of sessions) if (s.provider !== 'cuda') failures.push(`session ${s.key} got the ${s.provider} provider`);

// 3. Timings: median of `repeat` runs after two warm-ups (the first runs grow the arenas).
async function time(ctx, params, n) {
  const x = batch(n);
  const targets = new Array(n).fill(0);
  for (let i = 0; i < 2; i++) await explain(ctx, { x, params, targets });
  const times = [];
  for (let i = 0; i < repeat; i++) {
    const t0 = performance.now();
    await explain(ctx, { x, params, targets });
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}
const cases = [
  ['gradient', { method: 'gradient' }],
  [`smoothgrad n=${samples}`, { method: 'smoothgrad', samples, seed: 1 }],
  [`smoothdiff n=${samples}`, { method: 'smoothdiff', samples, seed: 1 }],
];
const rows = [['method', 'images', 'GPU ms', 'CPU ms', 'CPU / GPU']];
const results = [];
for (const [label, params] of cases) {
  for (const n of imageCounts) {
    const gpuMs = await time(gpu, params, n);
    const cpuMs = n === 1 ? await time(cpu, params, n) : undefined;
    results.push({ method: label, images: n, gpuMs, cpuMs });
    rows.push([label, String(n), gpuMs.toFixed(1), cpuMs === undefined ? '' : cpuMs.toFixed(1), cpuMs === undefined ? '' : (cpuMs / gpuMs).toFixed(1)]);
    console.error(`gpu-check: ${label}, ${n} image(s): GPU ${gpuMs.toFixed(1)} ms`);
  }
}

// 4. The float16 copy: its own precision on CUDA against float32 on the CPU.
const fp16Path = join(out, 'resnet50-fp16.onnx');
writeFileSync(fp16Path, encodeModel(modelToProto(storeInFloat16(modelFromProto(readModel(modelPath))))));
const sessions16 = [];
const gpu16 = await openModelContext(fp16Path, { ...cuda, cudaPrecision: 'model', onFallback, onSession: (s) => sessions16.push(s) });
const cpu16 = await openModelContext(fp16Path, { budgetBytes: 1 << 30, weightsDir: join(out, 'weights') });
if (gpu16.precision !== 'float16') failures.push(`the float16 model's CUDA context computes in ${gpu16.precision}`);
// A random-weight ResNet-50's input gradient is shattered: rounding only its input to float16
// moves it to a cosine of about 0.91 (float32 throughout, measured on the CPU), so the float16
// gradient is held to that floor, not to 0.999; Grad-CAM's layer gradient is smooth and is held to
// 0.999. A norm ratio away from 1 would be a scale lost (the seed's 2^10).
const roundedInput = { data: x1.data.map((v) => halfToFloat(floatToHalf(v))), dims: x1.dims };
const gradientOf = async (ctx, x, method = 'gradient') => (await explain(ctx, { x, params: { method }, targets: [0] })).attribution.data;
const c16 = await gradientOf(cpu16, x1);
const floor = cosineOf(await gradientOf(cpu16, roundedInput), c16);
const g16 = await gradientOf(gpu16, x1);
const cosine16 = cosineOf(g16, c16);
const norm = (a) => Math.sqrt(a.reduce((t, v) => t + v * v, 0));
const ratio16 = norm(g16) / norm(c16);
const camCosine16 = cosineOf(await gradientOf(gpu16, x1, 'grad-cam'), await gradientOf(cpu16, x1, 'grad-cam'));
if (!(cosine16 >= floor - 0.05))
  failures.push(`float16 on CUDA vs float32 on the CPU: gradient cosine ${cosine16}, below the input-rounding floor ${floor} − 0.05`);
if (!(ratio16 > 0.8 && ratio16 < 1.25)) failures.push(`float16 on CUDA vs float32 on the CPU: gradient norm ratio ${ratio16}`);
if (!(camCosine16 >= 0.999)) failures.push(`float16 on CUDA vs float32 on the CPU: Grad-CAM cosine ${camCosine16}`);
for (const s of sessions16) {
  if (s.provider !== 'cuda' || s.precision !== 'float16')
    failures.push(`float16 model: session ${s.key} got ${s.provider}/${s.precision}${s.reason ? ` (${s.reason})` : ''}`);
}
for (const n of imageCounts) {
  const gpuMs = await time(gpu16, { method: 'gradient' }, n);
  const cpuMs = n === 1 ? await time(cpu16, { method: 'gradient' }, n) : undefined;
  const float32Ms = results.find((r) => r.method === 'gradient' && r.images === n)?.gpuMs;
  results.push({ method: 'gradient float16', images: n, gpuMs, cpuMs, float32GpuMs: float32Ms });
  rows.push([
    'gradient float16',
    String(n),
    gpuMs.toFixed(1),
    cpuMs === undefined ? '' : cpuMs.toFixed(1),
    cpuMs === undefined ? '' : (cpuMs / gpuMs).toFixed(1),
  ]);
  console.error(`gpu-check: gradient float16, ${n} image(s): GPU ${gpuMs.toFixed(1)} ms (float32 model: ${float32Ms?.toFixed(1) ?? '?'} ms)`);
}
await gpu16.close();
await cpu16.close();
await gpu.close();
await cpu.close();

const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
console.log(`providers per session: ${sessions.map((s) => `${s.key}=${s.provider}`).join(', ')}`);
console.log(
  `profile (${profileFile}): ${Object.entries(byProvider)
    .map(([p, v]) => `${p} ${v.kernels} kernels ${(v.us / 1000).toFixed(1)} ms`)
    .join('; ')}; ${((100 * onCuda) / (total || 1)).toFixed(1)}% of kernel time on CUDA`,
);
console.log(`gradient GPU vs CPU: cosine ${cosine.toFixed(7)}`);
console.log(
  `float16 ResNet-50 on CUDA vs float32 on the CPU: gradient cosine ${cosine16.toFixed(5)} (floor: float32 at the float16-rounded input ${floor.toFixed(5)}), norm ratio ${ratio16.toFixed(4)}, Grad-CAM cosine ${camCosine16.toFixed(6)}; sessions ${sessions16.map((s) => `${s.key}=${s.provider}/${s.precision}`).join(', ')}`,
);
for (const r of rows) console.log(r.map((v, i) => v.padStart(widths[i])).join('  '));
writeFileSync(
  join(out, 'gpu-check.json'),
  JSON.stringify(
    { sessions, sessions16, byProvider, cosine, float16: { cosine: cosine16, floor, ratio: ratio16, camCosine: camCosine16 }, results, failures },
    null,
    2,
  ),
);
if (failures.length > 0) {
  for (const f of failures) console.error(`gpu-check FAILED: ${f}`);
  process.exit(1);
}
console.log('gpu-check: passed');
