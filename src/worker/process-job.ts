// The job processor: the one place where models, imaging, methods and the runtime meet.
// Loaded by the embedded queue's worker threads and by BullMQ's sandboxed worker threads: it
// exports `processJob` and keeps per-thread state (registry, open model contexts).
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { loadConfig } from '../config/config.js';
import { CompileError } from '../gradgraph/index.js';
import { type DecodedImage, decodeImage, ImageError, preprocess } from '../imaging/index.js';
import { decodeNpy, NpyError } from '../imaging/npy.js';
import { type JobPayload, type JobResult, type QualityMetrics, type TargetMap, keys } from '../jobs/contract.js';
import { JobCancelledError, JobInputError, type JobProcessor, type ProcessorIO } from '../jobs/interfaces.js';
import { BaselineError } from '../methods/baselines.js';
import { type ExplainResult, explain } from '../methods/explain.js';
import { explainTargets } from '../methods/multi-target.js';
import { evaluateMetrics } from '../metrics/evaluate.js';
import { GradCamError } from '../methods/grad-cam.js';
import { type MethodParams, methodKind, usedParams } from '../methods/params.js';
import { type Tensor } from '../methods/runner.js';
import { SmoothDiffError } from '../methods/smoothdiff.js';
import { NoiseGradError } from '../methods/noise-grad.js';
import { TargetError } from '../methods/targets.js';
import { type CheckedModel, checkModel, verdictKey } from '../models/model-check.js';
import { type ModelEntry, ModelRegistry } from '../models/registry.js';
import { onRescan } from '../models/rescan-signal.js';
import { preprocessSpec } from './manifest-mapping.js';
import { ModelContexts } from './model-contexts.js';
import { warmUp as warmUpModels, warmupMethods } from './warm-up.js';

const config = loadConfig();
const log = pino({ level: config.LOG_LEVEL, name: 'worker' });
let registry: ModelRegistry | undefined;
const contexts = new ModelContexts(
  config,
  (message, err) => log.warn({ err }, message),
  (message, fields) => log.info(fields, message),
);
// SIGHUP in this process: read MODELS_DIR again before the next job, and close what went away.
let rescanned = false;
onRescan(() => (rescanned = true));

async function modelEntry(id: string): Promise<ModelEntry> {
  if (rescanned || !registry) {
    const first = !registry;
    registry = ModelRegistry.scan(config.MODELS_DIR, registry);
    rescanned = false;
    if (!first) await contexts.retain(registry.list()); // one job per thread: none is running
  }
  let entry = registry.get(id);
  if (!entry) {
    // Added since this thread last looked (the gateway was told, this process not yet).
    registry = ModelRegistry.scan(config.MODELS_DIR, registry);
    entry = registry.get(id);
  }
  if (!entry) {
    const broken = registry.unavailableModel(id);
    if (broken) throw new JobInputError(broken.code, `model '${id}' cannot be used: ${broken.reason}`);
    throw new JobInputError('SALIENCY_UNKNOWN_MODEL', `model '${id}' is not installed on this worker`);
  }
  return entry;
}

async function required(io: ProcessorIO, key: string, what: string): Promise<Uint8Array> {
  const bytes = await io.read(key);
  if (!bytes) throw new JobInputError('SALIENCY_INPUT_EXPIRED', `the ${what} of this job has expired; submit it again`);
  return bytes;
}

/** A float32 .npy of one sample ([C,H,W]) or a batch of one ([1,C,H,W]) in the model's shape. */
function tensorInput(bytes: Uint8Array, sampleShape: number[], what: string): Tensor {
  let array;
  try {
    array = decodeNpy(bytes);
  } catch (err) {
    throw new JobInputError('SALIENCY_BAD_TENSOR', `${what}: ${(err as NpyError).message}`);
  }
  const shape = array.shape[0] === 1 && array.shape.length === sampleShape.length + 1 ? array.shape.slice(1) : array.shape;
  if (shape.length !== sampleShape.length || shape.some((d, i) => d !== sampleShape[i])) {
    throw new JobInputError(
      'SALIENCY_BAD_TENSOR',
      `${what} has shape [${array.shape.join(',')}]; the model expects [${sampleShape.join(',')}] or [1,${sampleShape.join(',')}]`,
    );
  }
  if (firstNonFinite(array.data) >= 0) throw new JobInputError('SALIENCY_BAD_TENSOR', `${what} contains NaN or infinite values`);
  return { data: array.data, dims: [1, ...sampleShape] };
}

/** A job whose numbers overflow fails with this code, deterministically (never retried). */
export const NON_FINITE = 'SALIENCY_NON_FINITE';

function firstNonFinite(values: ArrayLike<number>): number {
  if (values instanceof Float32Array && allFinite(values)) return -1;
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i] as number)) return i;
  return -1;
}

/**
 * Whether every value is finite, in one pass of multiply-adds: v·0 is 0 for a finite v and NaN
 * for NaN and ±Infinity. Typed to Float32Array alone (one shape for V8): about twice as fast as
 * testing each value, and the tensors checked are 150 k floats or more.
 */
function allFinite(values: Float32Array): boolean {
  let probe = 0;
  for (let i = 0; i < values.length; i++) probe += (values[i] as number) * 0;
  return probe === 0;
}

/**
 * The smallest and largest value. An indexed loop in a function of its own: `for…of` over a
 * typed array inside the (large, async) job function ran about 15× slower (2.6 ms for 150 k floats).
 */
function valueRange(values: Float32Array): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/**
 * NaN or ±Infinity in what the job reports would be stored as a result that no JSON can carry
 * (status answered 500, or 0s after a round trip through Redis). A finite input can still
 * overflow float32 inside the model (a tensor of 3e38), so the outputs are checked too.
 */
function assertFinite(values: ArrayLike<number>, what: string, hint: string): void {
  const at = firstNonFinite(values);
  if (at >= 0) throw new JobInputError(NON_FINITE, `${what} contains ${String(values[at])} at index ${at}: ${hint}`);
}

const OVERFLOW_HINT = "the computation overflowed float32; check the input's scale (a tensor upload must already be preprocessed as the model expects)";

function softmax(logits: Float32Array): Float64Array {
  const { max } = valueRange(logits);
  const out = new Float64Array(logits.length);
  let total = 0;
  for (let i = 0; i < logits.length; i++) total += out[i] = Math.exp((logits[i] as number) - max);
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / total;
  return out;
}

/** JSON has no Infinity: an error not known (one sample) is left out. */
function finiteOrUndefined(value: number | undefined): number | undefined {
  return value !== undefined && Number.isFinite(value) ? value : undefined;
}

/** Errors of the methods that are the request's fault become coded, non-retried input errors. */
function asInputError(err: unknown): unknown {
  if (err instanceof ImageError) return new JobInputError(err.code, err.message);
  if (err instanceof TargetError) return new JobInputError('SALIENCY_BAD_TARGET', err.message);
  if (err instanceof BaselineError) return new JobInputError('SALIENCY_BAD_BASELINE', err.message);
  if (err instanceof GradCamError) return new JobInputError('SALIENCY_BAD_LAYER', err.message);
  if (err instanceof SmoothDiffError || err instanceof CompileError || err instanceof NoiseGradError)
    return new JobInputError('SALIENCY_METHOD_UNSUPPORTED', err.message);
  return err;
}

/** A job over JOB_TIMEOUT_SECONDS fails for good (another attempt would take as long). */
function timedOut(): JobInputError {
  return new JobInputError(
    'SALIENCY_JOB_TIMEOUT',
    `the job ran longer than JOB_TIMEOUT_SECONDS (${config.JOB_TIMEOUT_SECONDS} s) and was stopped; ask for fewer samples or steps`,
  );
}

export const processJob: JobProcessor = async (payload: JobPayload, io: ProcessorIO): Promise<JobResult> => {
  const t0 = performance.now();
  const deadline = config.JOB_TIMEOUT_SECONDS > 0 ? t0 + config.JOB_TIMEOUT_SECONDS * 1000 : undefined;
  const jobLog = log.child({ jobId: payload.id, model: payload.model, method: payload.params.method });
  try {
    const entry = await modelEntry(payload.model);
    const ctx = await contexts.get(entry);
    const bytes = await required(io, payload.input.key, 'input');
    let image: DecodedImage | undefined;
    let x: Tensor;
    let geometry: unknown;
    if (payload.input.kind === 'image') {
      image = await decodeImage(bytes, { limitInputPixels: config.MAX_IMAGE_PIXELS });
      const pre = await preprocess(image, preprocessSpec(entry.manifest));
      x = { data: pre.data, dims: [1, ...ctx.sampleShape] };
      geometry = pre.geometry;
      assertFinite(x.data, 'the preprocessed image', "check the model manifest's mean and std");
    } else {
      x = tensorInput(bytes, ctx.sampleShape, 'the input tensor');
    }
    const { baseline, ...rest } = payload.params;
    const params: MethodParams = {
      ...rest,
      layer: rest.layer ?? entry.manifest.gradCamLayer,
      baseline:
        baseline === 'uploaded'
          ? tensorInput(await required(io, payload.baselineKey ?? keys.baseline(payload.id), 'baseline'), ctx.sampleShape, 'the baseline')
          : baseline,
    };
    const progress = (done: number, total: number, stage: string) => {
      if (io.cancelled()) throw new JobCancelledError('cancelled');
      // Checked where cancellation is: after each graph run, so a job stops at its next one.
      if (deadline !== undefined && performance.now() > deadline) throw timedOut();
      io.progress({ done, total, stage });
    };
    // Several classes: one map each, stacked on the attribution's first axis.
    const spec = payload.topK !== undefined ? { topK: payload.topK } : payload.targets ? { classes: payload.targets } : undefined;
    const result: ExplainResult = spec
      ? await explainTargets(ctx, { x, params, spec, progress })
      : await explain(ctx, { x, params, targets: payload.target === undefined ? undefined : [payload.target], progress });
    // One set per class, in the order of the attribution's first axis.
    const metrics = payload.metrics?.names.length
      ? await evaluateMetrics(
          ctx,
          x,
          params,
          result,
          { metrics: payload.metrics.names, steps: payload.metrics.steps, imputation: payload.metrics.imputation },
          progress,
        )
      : undefined;
    const attribution = result.attribution.data;
    assertFinite(result.logits.data, "the model's output (logits)", OVERFLOW_HINT);
    assertFinite(attribution, 'the attribution', OVERFLOW_HINT);
    for (const [name, value] of [
      ['completenessGap', result.completenessGap],
      ['sigma', result.sigma],
    ] as const) {
      if (value) assertFinite(value, name, OVERFLOW_HINT);
    }
    // Cancelled during the last run: nothing is written back.
    if (io.cancelled()) throw new JobCancelledError('cancelled');
    await io.write(keys.attribution(payload.id), new Uint8Array(attribution.buffer, attribution.byteOffset, attribution.byteLength), config.RESULT_TTL_SECONDS);
    // Several targets: the image was repeated per class, so every row of the logits is the image's.
    const logits = result.logits.data.subarray(0, result.logits.dims[1]);
    const probabilities = softmax(logits);
    const target = result.targets[0] as number;
    const label = (i: number) => entry.labels?.[i];
    const top5 = [...logits.keys()]
      .sort((a, b) => (logits[b] as number) - (logits[a] as number))
      .slice(0, 5)
      .map((index) => ({ index, label: label(index), logit: logits[index] as number, score: probabilities[index] as number }));
    const { min, max } = valueRange(attribution);
    const targets = spec ? targetMaps(result, logits, probabilities, label, metrics) : undefined;
    const { baseline: usedBaseline, ...resolved } = usedParams(result.params);
    const out: JobResult = {
      prediction: { target, label: label(target), logit: logits[target] as number, score: probabilities[target] as number, top5 },
      params: { ...resolved, ...(usedBaseline === undefined ? {} : { baseline: typeof usedBaseline === 'string' ? usedBaseline : 'uploaded' }) },
      attribution: { shape: result.attribution.dims, min, max, kind: methodKind(result.params.method, result.params.base) },
      ...(result.completenessGap ? { completenessGap: result.completenessGap[0] } : {}),
      ...(targets ? { targets } : {}),
      ...(metrics?.[0] ? { metrics: metrics[0] } : {}),
      ...(result.layer ? { layer: result.layer } : {}),
      ...(result.sigma ? { sigma: result.sigma[0] } : {}),
      ...(result.samplesUsed ? { samplesUsed: result.samplesUsed[0], relativeError: finiteOrUndefined(result.relativeError?.[0]) } : {}),
      ...(image ? { image: { width: image.width, height: image.height, format: image.format }, geometry } : {}),
      timings: { computeMs: result.timings.computeMs, totalMs: performance.now() - t0 },
    };
    jobLog.info({ computeMs: Math.round(result.timings.computeMs), target }, 'explanation computed');
    return out;
  } catch (err) {
    const mapped = asInputError(err);
    if (mapped instanceof JobCancelledError) jobLog.info('job cancelled');
    else if (mapped instanceof JobInputError) jobLog.info({ code: mapped.code, reason: mapped.message }, 'job rejected');
    else jobLog.error({ err: mapped }, 'job failed');
    throw mapped;
  }
};

/**
 * The service's model check on this thread's own contexts, which stay open for the warm-up and the
 * jobs: one verdict per installed model (the embedded queue's first thread does this for the
 * gateway, so the models are not opened and compiled twice at start).
 */
export async function checkModels(): Promise<CheckedModel[]> {
  registry ??= ModelRegistry.scan(config.MODELS_DIR);
  const checked: CheckedModel[] = [];
  for (const entry of registry.list()) checked.push({ key: verdictKey(entry), verdict: await checkModel(entry, (e) => contexts.get(e), true) });
  return checked;
}

/** Compiles and runs WARMUP_METHODS once per model (called before the thread reports ready); `stop` ends it between runs. */
export async function warmUp(stop?: () => boolean): Promise<void> {
  let methods;
  try {
    methods = warmupMethods(config.WARMUP_METHODS);
  } catch (err) {
    log.error({ err }, 'no warm-up');
    return;
  }
  if (methods.length === 0) return;
  registry ??= ModelRegistry.load(config.MODELS_DIR);
  for (const r of await warmUpModels(registry.list(), methods, (entry) => contexts.get(entry), stop)) {
    if (r.error) log.warn({ model: r.model, method: r.method, err: r.error }, 'warm-up failed; jobs of this method will report the error');
    else log.info({ model: r.model, method: r.method, ms: Math.round(r.ms) }, 'warmed up');
  }
}

/** Per class of a several-target job: its scores and the range of its slice of the attribution. */
function targetMaps(
  result: ExplainResult,
  logits: Float32Array,
  probabilities: Float64Array,
  label: (i: number) => string | undefined,
  metrics: QualityMetrics[] | undefined,
): TargetMap[] {
  const size = result.attribution.data.length / result.targets.length;
  return result.targets.map((index, k) => {
    const { min, max } = valueRange(result.attribution.data.subarray(k * size, (k + 1) * size));
    const gap = result.completenessGap?.[k];
    const quality = metrics?.[k];
    return {
      index,
      label: label(index),
      logit: logits[index] as number,
      score: probabilities[index] as number,
      min,
      max,
      ...(gap === undefined ? {} : { completenessGap: gap }),
      ...(quality ? { metrics: quality } : {}),
    };
  });
}

/** Closes the thread's ONNX sessions (called when the thread shuts down). */
export async function closeProcessor(): Promise<void> {
  await contexts.close();
}
