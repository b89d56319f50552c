// What running a model involved that its manifest does not say: whether the batch is free or fixed,
// the opset the file declares and the one it runs at after normalisation, the element type it
// computes in on this host (float16 for a float16 model on the CUDA provider, float32 otherwise)
// and the one it was stored in when that differs from float32, and the approximations its gradient
// makes (the straight-through estimator of QDQ models). The model check collects these once per model; the
// catalogue and `saliency models add` state them.
import { type ModelContext } from '../methods/context.js';
import { type CompileResult } from '../gradgraph/index.js';

export interface ModelFacts {
  /** 'fixed': the graph only runs at `fixedBatch` points per run (method runs respect that). */
  batching: 'dynamic' | 'fixed';
  fixedBatch?: number;
  /** Opset the file declares, and the one the service runs it at (old op forms upgraded). */
  opset: { file: number; run: number };
  /** What the forward and backward passes compute in on this host (runtime/model-context.ts). */
  computesIn: 'float32' | 'float16';
  /** Element types the file stores other than float32 (float16, bfloat16, float64); they compute in computesIn. */
  storedAs?: string[];
  /** Where the gradient is not the exact derivative of the forward model, and why. */
  approximations?: string[];
}

// ONNX TensorProto.DataType numbers of the types float32.ts rewrites.
const TYPE_NAMES: Record<number, string> = { 10: 'float16', 11: 'float64', 16: 'bfloat16' };

export function modelFactsOf(ctx: ModelContext, compiled: CompileResult): ModelFacts {
  const converted = ctx.convertedFrom ?? [];
  const fixed = ctx.fixedBatch !== undefined;
  return {
    batching: ctx.batching ?? (fixed ? 'fixed' : 'dynamic'),
    ...(fixed ? { fixedBatch: ctx.fixedBatch } : {}),
    opset: { file: ctx.originalOpset ?? ctx.model.opset, run: ctx.model.opset },
    computesIn: ctx.precision ?? 'float32',
    ...(converted.length > 0 ? { storedAs: converted.map((t) => TYPE_NAMES[t] ?? `ONNX type ${t}`) } : {}),
    ...(compiled.approximations.length > 0 ? { approximations: [...compiled.approximations] } : {}),
  };
}

/** The facts as the lines `saliency models add` prints (label, text). */
export function factLines(f: ModelFacts): [string, string][] {
  const lines: [string, string][] = [
    ['batch', f.batching === 'fixed' ? `fixed at ${f.fixedBatch ?? '?'} (the graph bakes its batch size in; every run has that many images)` : 'dynamic'],
    ['runs at', `opset ${f.opset.run}${f.opset.run === f.opset.file ? '' : ` (the file declares ${f.opset.file}; its old op forms are upgraded)`}`],
    ['computes', `${f.computesIn}${f.storedAs ? ` (the file stores ${f.storedAs.join(', ')}${f.computesIn === 'float16' ? '; on the CUDA provider' : ''})` : ''}`],
  ];
  for (const a of f.approximations ?? []) lines.push(['gradient', a]);
  return lines;
}

/** The facts in a few words, for one line of `saliency models check`. */
export function factsSummary(f: ModelFacts): string {
  const parts = [f.batching === 'fixed' ? `fixed batch ${f.fixedBatch ?? '?'}` : 'dynamic batch'];
  parts.push(`opset ${f.opset.file === f.opset.run ? f.opset.run : `${f.opset.file}→${f.opset.run}`}`);
  if (f.storedAs) parts.push(`${f.storedAs.join('/')} computed in ${f.computesIn}`);
  for (const a of f.approximations ?? []) parts.push(`gradient: ${a.split(':')[0] ?? a}`);
  return parts.join(', ');
}
