// Several classes of one image in one job: the image is repeated once per class and each copy is
// seeded with its own one-hot row, so the methods run every class in the same graph runs (the
// points of all classes share a run wherever the memory budget allows). Every class sees the
// noise the single-class job with the same seed would see (image 0's stream), so the map of
// class c equals the job `target=c` with that seed, and maps of different classes compare.
// Work that does not depend on the class is done once (SmoothDiff's statistics pass).
import { type ExplainResult, explain, logitsOf } from './explain.js';
import { type ModelContext, type Progress } from './context.js';
import { type MethodParams } from './params.js';
import { type Tensor } from './runner.js';
import { TargetError, type TargetSpec, classCount, givenTargets, topK } from './targets.js';

export interface MultiTargetRequest {
  /** One image, [1, …]. */
  x: Tensor;
  params: MethodParams;
  spec: TargetSpec;
  /** Explicit noise [samples, …] for the image, repeated for every class (tests). */
  noise?: Float32Array;
  progress?: Progress;
}

/** `attribution` is [K, …] and `targets` [K], in the order asked (top-k: by descending logit). */
export type MultiTargetResult = ExplainResult;

export async function explainTargets(ctx: ModelContext, request: MultiTargetRequest): Promise<MultiTargetResult> {
  const { x } = request;
  if (x.dims[0] !== 1) throw new TargetError(`several targets explain one image at a time, got a batch of ${String(x.dims[0])}`);
  const { params } = request;
  let classes: number[];
  let clean: Tensor | undefined;
  if ('topK' in request.spec) {
    clean = await logitsOf(ctx, x);
    const k = request.spec.topK;
    const count = clean.dims[1] as number;
    if (!Number.isInteger(k) || k < 1 || k > count) throw new TargetError(`top-${k}: the model has ${count} classes`);
    classes = (topK(clean, k)[0] ?? []).map((c) => c.index);
  } else {
    classes = request.spec.classes;
    if (classes.length === 0) throw new TargetError('no targets given');
    if (new Set(classes).size !== classes.length) throw new TargetError(`targets repeat a class: ${classes.join(',')}`);
  }
  const K = classes.length;
  const size = x.data.length;
  const tiled = new Float32Array(K * size);
  for (let k = 0; k < K; k++) tiled.set(x.data, k * size);

  // Explicit noise (tests) is the one image's block, repeated for every class; drawn noise comes
  // from image 0's stream for every copy (repeated: true).
  let noise: Float32Array | undefined;
  if (request.noise) {
    noise = new Float32Array(K * request.noise.length);
    for (let k = 0; k < K; k++) noise.set(request.noise, k * request.noise.length);
  }
  const result = await explain(ctx, {
    x: { data: tiled, dims: [K, ...x.dims.slice(1)] },
    params,
    targets: classes,
    noise,
    progress: request.progress,
    repeated: true,
  });
  // The checks explain() does on one target per sample, reported as they were asked.
  givenTargets(K, classCount(result.logits.dims), classes);
  return result;
}
