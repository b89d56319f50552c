// Turning a POST /v1/explanations request (multipart or JSON) into validated jobs.
import { randomInt, randomUUID } from 'node:crypto';
import type {} from '@fastify/multipart'; // request.parts()
import { type FastifyRequest } from 'fastify';
import { Value } from '@sinclair/typebox/value';
import { type Config } from '../config/config.js';
import { decodeImage, ImageError } from '../imaging/index.js';
import { readNpyHeader } from '../imaging/npy.js';
import { type JobPayload, type MethodParams, MethodParamsSchema, keys } from '../jobs/contract.js';
import {
  ADAPTIVE_METHODS,
  baseRefusal,
  METHOD_PARAMETERS,
  baseSpecific,
  type MethodParams as ResolvableParams,
  resolveParams,
  usedParams,
} from '../methods/params.js';
import { presetSpec } from '../methods/presets.js';
import { TargetError, type TargetSpec, parseTargetSpec } from '../methods/targets.js';
import { METRIC_NAMES, type MetricName } from '../metrics/evaluate.js';
import { type ModelEntry, type ModelRegistry, resolveTarget } from '../models/registry.js';
import { ApiError, apiError, codedError } from './errors.js';
import { expectation } from './expectation.js';
import { jobCost } from './job-cost.js';

export interface Upload {
  bytes: Buffer;
  filename?: string;
}

export interface Submission {
  fields: Record<string, unknown>;
  images: Upload[];
  tensor?: Upload;
  baseline?: Upload;
}

const PARAM_KEYS = Object.keys(MethodParamsSchema.properties);
const OTHER_KEYS = ['model', 'target', 'targets', 'metrics', 'flip_steps', 'imputation', 'webhook'];

const FILE_FIELDS = ['image', 'tensor', 'baseline'];

/**
 * Reads a multipart body: fields, `image` files (one or more), `tensor`, `baseline`. A field or a
 * single-file part sent twice is refused (last-wins would silently drop what the client meant);
 * the files together may hold MAX_UPLOAD_BYTES.
 */
export async function readMultipart(request: FastifyRequest, config: Config): Promise<Submission> {
  const submission: Submission = { fields: {}, images: [] };
  let total = 0;
  try {
    for await (const part of request.parts()) {
      if (part.type === 'field') {
        if (part.valueTruncated) throw apiError('SALIENCY_VALIDATION', [`field '${part.fieldname}' is too long`]);
        // ('baseline' is both: the parameter baseline=uploaded and the file it names.)
        if (part.fieldname === 'image' || part.fieldname === 'tensor')
          throw apiError('SALIENCY_VALIDATION', [`'${part.fieldname}' must be a file part (with a filename), not a text field`]);
        if (Object.hasOwn(submission.fields, part.fieldname))
          throw apiError('SALIENCY_VALIDATION', [`field '${part.fieldname}' is sent more than once; send each field once`]);
        submission.fields[part.fieldname] = part.value;
        continue;
      }
      if (!FILE_FIELDS.includes(part.fieldname))
        throw apiError('SALIENCY_BAD_REQUEST', [`unexpected file field '${part.fieldname}'; use 'image', 'tensor' or 'baseline'`]);
      if ((part.fieldname === 'tensor' && submission.tensor) || (part.fieldname === 'baseline' && submission.baseline)) {
        throw apiError('SALIENCY_VALIDATION', [`file '${part.fieldname}' is sent more than once; send one`]);
      }
      if (part.fieldname === 'image' && submission.images.length >= config.MAX_FILES) throw apiError('SALIENCY_TOO_MANY_FILES', [config.MAX_FILES]);
      const bytes = await part.toBuffer();
      if (part.file.truncated) throw apiError('SALIENCY_PAYLOAD_TOO_LARGE', [config.MAX_UPLOAD_BYTES]);
      total += bytes.byteLength;
      if (total > config.MAX_UPLOAD_BYTES) throw apiError('SALIENCY_PAYLOAD_TOO_LARGE', [config.MAX_UPLOAD_BYTES]);
      const upload = { bytes, filename: part.filename };
      if (part.fieldname === 'image') submission.images.push(upload);
      else if (part.fieldname === 'tensor') submission.tensor = upload;
      else submission.baseline = upload;
    }
  } catch (err) {
    throw malformedMultipart(err);
  }
  return submission;
}

/**
 * busboy's parse errors (no boundary, a body that ends mid-part, a broken part header) carry no
 * status: they are the request's fault, a 400. Coded errors (ours, @fastify/multipart's limits)
 * pass through to the error handler.
 */
function malformedMultipart(err: unknown): unknown {
  if (err instanceof ApiError) return err;
  const { code, statusCode } = err as { code?: unknown; statusCode?: unknown };
  if (typeof code === 'string' && code.startsWith('FST_')) return err;
  if (typeof statusCode === 'number' && statusCode < 500) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return apiError('SALIENCY_BAD_REQUEST', [
    `the multipart body is malformed or incomplete (${detail}); send multipart/form-data with a boundary and complete parts`,
  ]);
}

function base64(value: unknown, what: string): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/=\s_-]*$/.test(value)) throw apiError('SALIENCY_BAD_REQUEST', [`${what} must be a base64 string`]);
  const comma = value.startsWith('data:') ? value.indexOf(',') + 1 : 0;
  return Buffer.from(value.slice(comma), 'base64');
}

/** Reads a JSON body: fields plus base64 `image` or `images`, `tensor`, `baseline` (MAX_UPLOAD_BYTES in all, decoded). */
export function readJson(body: unknown, config: Config): Submission {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw apiError('SALIENCY_BAD_REQUEST', ['the JSON body must be an object']);
  const { image, images, tensor, baseline, ...fields } = body as Record<string, unknown>;
  if (image !== undefined && images !== undefined) throw apiError('SALIENCY_VALIDATION', ["send either 'image' or 'images', not both"]);
  const list = images === undefined ? (image === undefined ? [] : [image]) : Array.isArray(images) ? images : [images];
  if (list.length > config.MAX_FILES) throw apiError('SALIENCY_TOO_MANY_FILES', [config.MAX_FILES]);
  // An upper bound from the lengths first (line breaks of MIME-style base64 add under 3 %), so a
  // clearly oversized upload is refused without decoding any of it; the exact sum follows.
  const encoded = [...list, tensor, baseline].reduce<number>((sum, v) => sum + (typeof v === 'string' ? v.length : 0), 0);
  if ((encoded * 3) / 4 > config.MAX_UPLOAD_BYTES * 1.03 + 4096) throw apiError('SALIENCY_PAYLOAD_TOO_LARGE', [config.MAX_UPLOAD_BYTES]);
  const submission: Submission = {
    fields,
    images: list.map((v, i) => ({ bytes: base64(v, images === undefined ? 'image' : `images[${i}]`) })),
    ...(tensor !== undefined ? { tensor: { bytes: base64(tensor, 'tensor') } } : {}),
    ...(baseline !== undefined ? { baseline: { bytes: base64(baseline, 'baseline') } } : {}),
  };
  const total = [...submission.images, submission.tensor, submission.baseline].reduce((sum, u) => sum + (u?.bytes.byteLength ?? 0), 0);
  if (total > config.MAX_UPLOAD_BYTES) throw apiError('SALIENCY_PAYLOAD_TOO_LARGE', [config.MAX_UPLOAD_BYTES]);
  return submission;
}

export function chooseModel(registry: ModelRegistry, requested: unknown): ModelEntry {
  const models = registry.list();
  if (requested === undefined || requested === '') {
    if (models.length === 1) return models[0] as ModelEntry;
    throw apiError('SALIENCY_VALIDATION', [`'model' is required; installed: ${models.map((m) => m.id).join(', ')}`]);
  }
  const entry = typeof requested === 'string' ? registry.get(requested) : undefined;
  if (entry) return entry;
  // A model folder that cannot serve: its reason, not "unknown".
  const broken = typeof requested === 'string' ? registry.unavailableModel(requested) : undefined;
  if (broken) throw apiError(broken.code, [broken.id, broken.reason]);
  throw apiError('SALIENCY_UNKNOWN_MODEL', [String(requested)]);
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * Multipart fields arrive as strings: numbers and booleans are converted strictly (TypeBox's
 * Convert would turn '2.5' into 2 and '1e12' into 1); anything else is left for validation to
 * reject with a message.
 */
function convertField(key: string, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const schema = (MethodParamsSchema.properties as Record<string, { type?: string; anyOf?: { type?: string }[] }>)[key];
  // A union (samples: integer | 'auto') converts like its numeric member.
  const type = schema?.type ?? schema?.anyOf?.find((s) => s.type === 'integer' || s.type === 'number')?.type;
  if ((type === 'integer' || type === 'number') && DECIMAL.test(value.trim())) return Number(value);
  if (type === 'boolean' && (value === 'true' || value === 'false')) return value === 'true';
  return value;
}

/** Validates the method parameters (strings from multipart are converted) against the limits. */
export function methodParams(fields: Record<string, unknown>, config: Config): MethodParams {
  const unknown = Object.keys(fields).filter((k) => !PARAM_KEYS.includes(k) && !OTHER_KEYS.includes(k));
  if (unknown.length > 0) throw apiError('SALIENCY_VALIDATION', [`unknown field(s) ${unknown.join(', ')}; GET /v1/methods lists the parameters`]);
  const raw: Record<string, unknown> = { method: 'gradient' };
  for (const k of PARAM_KEYS) if (fields[k] !== undefined && fields[k] !== '') raw[k] = convertField(k, fields[k]);
  const value = raw;
  const errors = [...Value.Errors(MethodParamsSchema, value)];
  if (errors.length > 0) {
    const first = errors[0];
    throw apiError('SALIENCY_VALIDATION', [
      `${first?.path.slice(1) || 'body'}: expected ${first ? expectation(first.schema) : 'a valid value'} (got ${JSON.stringify(first?.value)})`,
    ]);
  }
  const params = value as MethodParams;
  const inapplicable = Object.keys(raw).filter((k) => !applicableParameters(params).has(k));
  if (inapplicable.length > 0) {
    const reads = [...applicableParameters(params)].filter((k) => !UNIVERSAL.includes(k));
    throw apiError('SALIENCY_VALIDATION', [
      `parameter${inapplicable.length === 1 ? '' : 's'} ${inapplicable.map((k) => `'${k}'`).join(', ')} do${inapplicable.length === 1 ? 'es' : ''} not apply to method '${params.method}'${
        params.base ? ` with base '${params.base}'` : ''
      }; it reads ${reads.length ? reads.join(', ') : 'no parameters besides target, preset and seed'}`,
    ]);
  }
  if (params.preset) {
    // A preset reproduces a library's own call; where the library has none, say so, never guess.
    const spec = presetSpec(params.preset, params.method, params.base ?? 'gradient');
    if (!spec.supported)
      throw apiError('SALIENCY_VALIDATION', [`preset '${params.preset}': ${spec.reason}; GET /v1/methods lists what each preset reproduces`]);
  }
  if (params.samples === 'auto' && !ADAPTIVE_METHODS.has(params.method)) {
    throw apiError('SALIENCY_VALIDATION', [`samples=auto is for smoothgrad, smoothgrad-squared and vargrad; give ${params.method} a number of samples`]);
  }
  const samples = params.samples === 'auto' ? (params.maxSamples ?? 0) : params.samples;
  if (samples !== undefined && samples > config.MAX_SAMPLES) {
    throw apiError('SALIENCY_LIMIT_EXCEEDED', [`samples ${samples} exceeds the limit of ${config.MAX_SAMPLES}`]);
  }
  if (params.steps !== undefined && params.steps > config.MAX_STEPS) {
    throw apiError('SALIENCY_LIMIT_EXCEEDED', [`steps ${params.steps} exceeds the limit of ${config.MAX_STEPS}`]);
  }
  const refusal = baseRefusal(params.method, params.base);
  if (refusal) throw apiError('SALIENCY_VALIDATION', [refusal]);
  if (params.method === 'vargrad' && params.unbiased && params.samples === 1) {
    throw apiError('SALIENCY_VALIDATION', ['unbiased VarGrad needs samples ≥ 2']);
  }
  return params;
}

/** Read by every method: what to run, a library preset, and the seed (always reported, METHODS.md). */
const UNIVERSAL = ['method', 'preset', 'seed'];

/** The parameters a method reads (GET /v1/methods lists them); IG's only over an IG base, CAM's over a CAM base. */
function applicableParameters(params: MethodParams): Set<string> {
  let own: readonly string[] = METHOD_PARAMETERS[params.method];
  if (own.includes('base')) own = own.filter((k) => !baseSpecific(k, params.base));
  return new Set([...UNIVERSAL, ...own]);
}

/**
 * What the request asks beyond its parameters' own validity: a baseline file only with
 * baseline=uploaded, and a job cost (graph points and pixels, job-cost.ts) within the limits.
 */
export function checkSubmission(submission: Submission, entry: ModelEntry, params: MethodParams, config: Config, classes = 1): void {
  if (submission.baseline && params.baseline !== 'uploaded') {
    throw apiError('SALIENCY_VALIDATION', ["a 'baseline' file was sent but baseline is not 'uploaded'; send baseline=uploaded with it, or leave the file out"]);
  }
  const cost = jobCost(entry.manifest.input.size, params, 1, classes);
  if (cost.points > config.MAX_JOB_POINTS) {
    throw apiError('SALIENCY_LIMIT_EXCEEDED', [
      `each job of this request costs ${cost.points} graph points (${cost.formula}); the limit MAX_JOB_POINTS is ${config.MAX_JOB_POINTS}: lower samples or steps`,
    ]);
  }
  if (cost.pixels > config.MAX_JOB_PIXELS) {
    throw apiError('SALIENCY_LIMIT_EXCEEDED', [
      `each job of this request costs ${cost.pixels} pixel evaluations (${cost.points} graph points × ${cost.pixels / cost.points} model input pixels); the limit MAX_JOB_PIXELS is ${config.MAX_JOB_PIXELS}: lower samples or steps`,
    ]);
  }
}

/** Parameters as the job will run them: defaults filled in and the seed chosen. */
export function resolvedParams(params: MethodParams): { params: MethodParams; resolved: Record<string, unknown> } {
  const seed = params.seed ?? randomInt(0, 2 ** 31);
  const { baseline, ...rest } = params;
  const resolvable: ResolvableParams = { ...rest, seed, ...(baseline && baseline !== 'uploaded' ? { baseline } : {}) };
  const resolved: Record<string, unknown> = { ...usedParams(resolveParams(resolvable, seed)) };
  if (baseline === 'uploaded') resolved['baseline'] = 'uploaded';
  for (const k of Object.keys(resolved)) if (resolved[k] === undefined) delete resolved[k];
  return { params: { ...params, seed }, resolved };
}

export function targetIndex(entry: ModelEntry, target: unknown): number | undefined {
  if (target === undefined || target === '') return undefined;
  if (typeof target !== 'string' && typeof target !== 'number') throw apiError('SALIENCY_BAD_TARGET', ['target must be a class index or a label']);
  const index = resolveTarget(entry, target);
  const classes = entry.labels?.length;
  if (index === undefined)
    throw apiError('SALIENCY_BAD_TARGET', [`target '${target}' is not a label of model ${entry.id}; GET /v1/models/${entry.id} lists them`]);
  if (!Number.isInteger(index) || index < 0 || (classes !== undefined && index >= classes)) {
    throw apiError('SALIENCY_BAD_TARGET', [`target ${target} is not a class index in 0..${(classes ?? 1) - 1}`]);
  }
  return index;
}

/** The most classes one job explains (each costs as much as a one-class job; the cost check multiplies). */
export const MAX_TARGETS = 32;

export type TargetsField = { targets: number[] } | { topK: number };

/**
 * `targets`: several classes in one job, as a list (`3,7,tabby`, or a JSON array of indices and
 * labels) or `top-k` (the k largest logits). Absent: one target, as `target` says.
 */
export function targetsField(entry: ModelEntry, value: unknown, single: unknown): TargetsField | undefined {
  if (value === undefined || value === '') return undefined;
  if (single !== undefined && single !== '') throw apiError('SALIENCY_VALIDATION', ["send either 'target' (one class) or 'targets' (several), not both"]);
  let spec: TargetSpec;
  try {
    spec = parseTargetSpec(value, (item) => targetIndex(entry, item) as number, MAX_TARGETS, entry.labels?.length);
  } catch (err) {
    if (err instanceof TargetError) throw apiError('SALIENCY_BAD_TARGET', [`targets: ${err.message}`]);
    throw err;
  }
  return 'topK' in spec ? spec : { targets: spec.classes };
}

/** Most pixel-flipping steps a job may ask for (each is two forward passes). */
export const MAX_FLIP_STEPS = 256;

/** `metrics=sparseness,complexity,pixel-flipping,random-logit` (a list, or a JSON array), with pixel flipping's `flip_steps` and `imputation`. */
export function metricsField(fields: Record<string, unknown>): JobPayload['metrics'] {
  const value = fields['metrics'];
  const steps = fields['flip_steps'];
  const imputation = fields['imputation'];
  if (value === undefined || value === '') {
    if ((steps !== undefined && steps !== '') || (imputation !== undefined && imputation !== ''))
      throw apiError('SALIENCY_VALIDATION', ['flip_steps and imputation apply to metrics=pixel-flipping; add it, or leave them out']);
    return undefined;
  }
  const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',').map((v) => v.trim()) : [];
  const names: MetricName[] = [];
  for (const item of items) {
    if (!METRIC_NAMES.includes(item as MetricName))
      throw apiError('SALIENCY_VALIDATION', [`metrics: '${String(item)}' is not one of ${METRIC_NAMES.join(', ')}`]);
    if (!names.includes(item as MetricName)) names.push(item as MetricName);
  }
  if (names.length === 0) throw apiError('SALIENCY_VALIDATION', [`metrics must list some of ${METRIC_NAMES.join(', ')}`]);
  const out: NonNullable<JobPayload['metrics']> = { names };
  if (steps !== undefined && steps !== '') {
    const n = Number(steps);
    if (!Number.isInteger(n) || n < 1 || n > MAX_FLIP_STEPS)
      throw apiError('SALIENCY_VALIDATION', [`flip_steps must be an integer in 1..${MAX_FLIP_STEPS}, got ${String(steps)}`]);
    out.steps = n;
  }
  if (imputation !== undefined && imputation !== '') {
    if (imputation !== 'zeros' && imputation !== 'mean')
      throw apiError('SALIENCY_VALIDATION', [`imputation must be 'zeros' or 'mean', got ${JSON.stringify(imputation)}`]);
    out.imputation = imputation;
  }
  if ((out.steps !== undefined || out.imputation !== undefined) && !names.includes('pixel-flipping')) {
    throw apiError('SALIENCY_VALIDATION', ['flip_steps and imputation apply to metrics=pixel-flipping; add it, or leave them out']);
  }
  return out;
}

/** Classes a job explains: what its cost is multiplied by. */
export function targetCount(field: TargetsField | undefined): number {
  if (!field) return 1;
  return 'topK' in field ? field.topK : field.targets.length;
}

/** Checks an uploaded image fully (corrupt, truncated, bombs) before anything is stored. */
export async function checkImage(upload: Upload, config: Config): Promise<void> {
  try {
    await decodeImage(upload.bytes, { limitInputPixels: config.MAX_IMAGE_PIXELS });
  } catch (err) {
    if (err instanceof ImageError) throw codedError(err.code, err.message);
    throw err;
  }
}

/** Checks a .npy upload: float32, the model's sample shape (or a batch of one). */
export function checkTensor(upload: Upload, entry: ModelEntry, what: string): void {
  const { size, channels, layout } = entry.manifest.input;
  const expected = layout === 'NCHW' ? [channels, ...size] : [...size, channels];
  let shape: number[];
  try {
    shape = readNpyHeader(upload.bytes).shape;
  } catch (err) {
    throw apiError('SALIENCY_BAD_TENSOR', [`${what}: ${(err as Error).message}`]);
  }
  const sample = shape.length === expected.length + 1 && shape[0] === 1 ? shape.slice(1) : shape;
  if (sample.length !== expected.length || sample.some((d, i) => d !== expected[i])) {
    throw apiError('SALIENCY_BAD_TENSOR', [
      `${what} has shape [${shape.join(',')}]; model ${entry.id} expects [${expected.join(',')}] or [1,${expected.join(',')}]`,
    ]);
  }
}

export function newPayload(
  entry: ModelEntry,
  params: MethodParams,
  target: number | undefined,
  kind: 'image' | 'tensor',
  owner: string | undefined,
  filename?: string,
  several?: TargetsField,
  metrics?: JobPayload['metrics'],
): JobPayload {
  const id = randomUUID();
  return {
    id,
    model: entry.id,
    params,
    ...(target !== undefined ? { target } : {}),
    ...(several ?? {}),
    ...(metrics ? { metrics } : {}),
    input: { kind, key: keys.input(id), ...(filename ? { filename } : {}) },
    ...(params.baseline === 'uploaded' ? { baselineKey: keys.baseline(id) } : {}),
    ...(owner ? { owner } : {}),
    submittedAt: Date.now(),
  };
}
