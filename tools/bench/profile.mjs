#!/usr/bin/env node
// @ts-check
// Where does a method's time go? Runs one explanation with ONNX Runtime's profiler on every graph
// the method builds and prints the kernel time per op type and the slowest nodes, per graph.
//
//   npm run build && node tools/bench/profile.mjs --model .cache/bench/resnet50-op17.onnx \
//     --method smoothdiff --samples 8 [--repeat 3] [--warmup 1] [--top 15] [--threads 2] [--budget-mb 1024]
//   (big graphs need --warmup 2: the second run still touches fresh memory)
//   node tools/bench/profile.mjs --model M.onnx --method forward --batch 16   (the plain forward)
//   node tools/bench/profile.mjs --model M.onnx --method graph --batch 16     (the bare gradient graph)
//
// Kernel times only (no session overhead); profiles are written under .cache/profile/.
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { compileGradient, inputGradient } from '../../dist/src/gradgraph/index.js';
import { DEFAULT_BUDGET_BYTES } from '../../dist/src/methods/context.js';
import { explain } from '../../dist/src/methods/explain.js';
import { oneHotSeed } from '../../dist/src/methods/targets.js';
import { loadModel } from '../../dist/src/runtime/gradient-model.js';
import { Session } from '../../dist/src/runtime/ort.js';
import { modelToProto } from '../../dist/src/onnx/ir.js';
import { encodeModel } from '../../dist/src/onnx/proto.js';

const args = Object.fromEntries(
  process.argv
    .slice(2)
    .reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), /** @type {[string, string | undefined][]} */ ([])),
);
const modelPath = args.model ?? '.cache/bench/resnet50-op17.onnx';
const method = args.method ?? 'gradient';
const repeat = Number(args.repeat ?? 3);
const top = Number(args.top ?? 15);
const warmup = Number(args.warmup ?? 1);
const threads = args.threads ? Number(args.threads) : undefined;
const dir = join('.cache', 'profile');
mkdirSync(dir, { recursive: true });

const loaded = await loadModel(modelPath, { threads });
const sessions = new Map();

/** The service's own Session, profiling, counting its runs. */
async function create(key, model) {
  const prefix = join(dir, key.replace(/[^\w]+/g, '_'));
  const inner = await Session.create(encodeModel(modelToProto(model)), { threads, profilePrefix: prefix });
  return {
    inner,
    prefix,
    runs: 0,
    run(feeds, fetches) {
      this.runs++;
      return inner.run(feeds, fetches);
    },
  };
}

const ctx = {
  ...loaded,
  budgetBytes: args['budget-mb'] ? Number(args['budget-mb']) * 1024 * 1024 : DEFAULT_BUDGET_BYTES,
  sessions(key, build) {
    if (!sessions.has(key)) sessions.set(key, create(key, build()));
    return sessions.get(key);
  },
};

const batch = Number(args.batch ?? 1);
const size = loaded.sampleShape.reduce((a, b) => a * b, 1);
const x = { data: new Float32Array(batch * size).map((_, i) => Math.sin(i * 12.9898) * 0.5), dims: [batch, ...loaded.sampleShape] };

if (method === 'forward') {
  // The plain model, as `npm run bench -- gradient` times it.
  const s = await ctx.sessions('forward', () => loaded.model);
  for (let i = 0; i < repeat + warmup; i++) await s.run({ [loaded.input]: x });
} else if (method === 'graph') {
  // The bare gradient graph (x, seed → output, grad), as `npm run bench -- gradient` times it.
  const compiled = compileGradient(loaded.model, { facts: loaded.facts, input: loaded.input });
  const classes = loaded.facts.shapes.get(compiled.explained)[1];
  const s = await ctx.sessions('gradient-graph', () => compiled.model);
  const seed = oneHotSeed(new Array(batch).fill(0), classes);
  for (let i = 0; i < repeat + warmup; i++) await s.run({ [compiled.input]: x, [compiled.seed]: seed }, [inputGradient(compiled)]);
} else {
  const params = { method, ...(args.samples ? { samples: Number(args.samples) } : {}), ...(args.steps ? { steps: Number(args.steps) } : {}), seed: 1 };
  for (let i = 0; i < repeat + warmup; i++) await explain(ctx, { x, params, targets: new Array(batch).fill(0) });
}

for (const [key, pending] of sessions) {
  const s = await pending;
  s.inner.endProfiling();
  const events = JSON.parse(readFileSync(newestProfile(s.prefix), 'utf8'));
  // Skip the warm-up runs of the graph (allocations, first-touch page faults): their node events
  // come first.
  const nodes = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  const perRun = nodes.length / s.runs;
  const skip = Math.min(warmup, s.runs - 1);
  const kept = nodes.slice(Math.round(perRun * skip));
  const runs = s.runs - skip;
  const byOp = new Map();
  const byNode = new Map();
  for (const e of kept) {
    const op = e.args?.op_name ?? '?';
    byOp.set(op, (byOp.get(op) ?? 0) + e.dur);
    const name = e.name.replace(/_kernel_time$/, '');
    byNode.set(name, { op, us: (byNode.get(name)?.us ?? 0) + e.dur });
  }
  const total = [...byOp.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(`\n== ${key}: ${(total / runs / 1000).toFixed(1)} ms kernel time per run (${runs} runs)\n`);
  for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`  ${op.padEnd(28)} ${(us / runs / 1000).toFixed(2).padStart(9)} ms  ${((100 * us) / total).toFixed(1).padStart(5)} %\n`);
  }
  process.stdout.write('  slowest nodes:\n');
  for (const [name, { op, us }] of [...byNode].sort((a, b) => b[1].us - a[1].us).slice(0, top)) {
    process.stdout.write(`    ${(us / runs / 1000).toFixed(2).padStart(8)} ms  ${op.padEnd(22)} ${name}\n`);
  }
  await s.inner.release();
}

/** ORT names the file <prefix>_<date>.json and does not return the name to Node. */
function newestProfile(prefix) {
  const base = basename(prefix);
  const files = readdirSync(dir)
    .filter((f) => f.startsWith(`${base}_`) && f.endsWith('.json'))
    .sort();
  if (files.length === 0) throw new Error(`no profile written for ${prefix}`);
  return join(dir, files[files.length - 1]);
}
