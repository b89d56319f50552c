// Response shapes of the API: one schema each, used by the routes (serialisation), the OpenAPI
// document and the tests.
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { COLORMAPS, REDUCTIONS, SCALINGS, SIGNS } from '../imaging/index.js';
import { JobErrorSchema, JobStateSchema, MethodName, MethodParamsSchema, ProgressSchema, QualityMetricsSchema, TargetMapSchema } from '../jobs/contract.js';

/** A string enum as JSON Schema's `enum` (what generated clients turn into a union type). */
const StringEnum = <T extends string>(values: readonly T[], options: Record<string, unknown> = {}) =>
  Type.Unsafe<T>({ type: 'string', enum: [...values], ...options });

export const ErrorSchema = Type.Object(
  { error: Type.Object({ code: Type.String(), message: Type.String(), requestId: Type.Optional(Type.String()) }) },
  { $id: 'Error', 'x-component': 'Error', description: 'Every error: a stable code and a message that says what to do' },
);

const Links = Type.Object({
  self: Type.String(),
  events: Type.String(),
  heatmap: Type.String(),
  overlay: Type.String(),
  attribution: Type.String(),
  map: Type.String(),
});

const ClassScore = Type.Object({ index: Type.Integer(), label: Type.Optional(Type.String()), logit: Type.Number(), score: Type.Number() });

export const ExplanationSchema = Type.Object(
  {
    id: Type.String(),
    status: JobStateSchema,
    model: Type.String(),
    method: Type.String(),
    params: Type.Record(Type.String(), Type.Unknown(), { description: 'Parameters with defaults filled in and the seed chosen' }),
    target: Type.Optional(Type.Integer()),
    progress: Type.Optional(ProgressSchema),
    prediction: Type.Optional(
      Type.Object({ target: Type.Integer(), label: Type.Optional(Type.String()), logit: Type.Number(), score: Type.Number(), top5: Type.Array(ClassScore) }),
    ),
    attribution: Type.Optional(
      Type.Object({
        shape: Type.Array(Type.Integer()),
        min: Type.Number(),
        max: Type.Number(),
        kind: Type.String(),
        completenessGap: Type.Optional(Type.Number()),
        layer: Type.Optional(Type.String()),
        sigma: Type.Optional(Type.Number()),
      }),
    ),
    targets: Type.Optional(
      Type.Array(TargetMapSchema, {
        description:
          'Several-target jobs: one map per class, in the order of the attribution’s first axis; ?target=<index> on heatmap.png, overlay.png, map.json and attribution.npy picks one',
      }),
    ),
    metrics: Type.Optional(QualityMetricsSchema),
    image: Type.Optional(Type.Object({ width: Type.Integer(), height: Type.Integer(), format: Type.String() })),
    error: Type.Optional(JobErrorSchema),
    attempts: Type.Optional(Type.Integer()),
    timings: Type.Object({
      submittedAt: Type.String(),
      queuedMs: Type.Optional(Type.Number()),
      computeMs: Type.Optional(Type.Number()),
      totalMs: Type.Optional(Type.Number()),
    }),
    links: Links,
    cached: Type.Optional(
      Type.Boolean({
        description:
          'In a POST answer: true when an earlier job with the same model, input, method, parameters (seed included) and target answers this submission',
      }),
    ),
  },
  { $id: 'Explanation', 'x-component': 'Explanation' },
);
export type Explanation = Static<typeof ExplanationSchema>;

export const ExplanationListSchema = Type.Object({ explanations: Type.Array(ExplanationSchema) }, { $id: 'ExplanationList', 'x-component': 'ExplanationList' });

const ModelStatus = Type.Union([Type.Literal('ready'), Type.Literal('unavailable')], {
  description: "'ready': jobs may be submitted; 'unavailable': the model folder cannot serve (see error) and submissions get that error",
});

export const ModelSchema = Type.Object(
  {
    id: Type.String(),
    status: ModelStatus,
    name: Type.Optional(Type.String()),
    description: Type.Optional(Type.String()),
    input: Type.Object({
      layout: Type.String(),
      size: Type.Array(Type.Integer()),
      channels: Type.Integer(),
      range: Type.Array(Type.Number()),
      mean: Type.Array(Type.Number()),
      std: Type.Array(Type.Number()),
    }),
    output: Type.Object({ kind: Type.String() }),
    classes: Type.Optional(Type.Integer()),
    labels: Type.Optional(Type.Array(Type.String())),
    methods: Type.Array(Type.String()),
    gradCamLayer: Type.Optional(Type.String()),
    batching: Type.Optional(
      Type.Union([Type.Literal('dynamic'), Type.Literal('fixed')], {
        description:
          "'dynamic': any number of images per run; 'fixed': the graph bakes its batch size in and runs at fixedBatch images (slower for many-sample methods, same results)",
      }),
    ),
    fixedBatch: Type.Optional(Type.Integer({ description: "Images per run of a 'fixed' model" })),
    opset: Type.Optional(
      Type.Object(
        {
          file: Type.Integer({ description: 'Opset the ONNX file declares' }),
          run: Type.Integer({ description: 'Opset the service runs it at (old op forms upgraded)' }),
        },
        { description: 'ONNX operator set (default domain)' },
      ),
    ),
    computesIn: Type.Optional(
      Type.Union([Type.Literal('float32'), Type.Literal('float16')], {
        description:
          "Element type forward and gradient passes compute in on this service's workers: float16 for a float16 model whose sessions run on the CUDA provider (CUDA_PRECISION=model), float32 otherwise",
      }),
    ),
    storedAs: Type.Optional(
      Type.Array(Type.String(), {
        description: 'Element types the file stores (float16, bfloat16, float64) other than float32; they are computed in computesIn',
      }),
    ),
    approximations: Type.Optional(
      Type.Array(Type.String(), {
        description: "Where the gradient is not the exact derivative of the forward model (e.g. QDQ models' straight-through quantization)",
      }),
    ),
    hash: Type.String(),
    bytes: Type.Integer(),
  },
  {
    $id: 'Model',
    'x-component': 'Model',
    description: 'batching, opset, computesIn, storedAs and approximations are stated once the service has checked the model (at start and on each rescan)',
  },
);

/** A model folder that cannot serve: the error a submission to it gets, and what the manifest said. */
export const UnavailableModelSchema = Type.Object(
  {
    id: Type.String(),
    status: Type.Literal('unavailable'),
    error: Type.Object({ code: Type.String(), message: Type.String() }),
    name: Type.Optional(Type.String()),
    description: Type.Optional(Type.String()),
    hash: Type.Optional(Type.String()),
    bytes: Type.Optional(Type.Integer()),
  },
  { $id: 'UnavailableModel', 'x-component': 'UnavailableModel' },
);

export const ModelListSchema = Type.Object(
  {
    models: Type.Array(ModelSchema, { description: 'Models that serve' }),
    unavailable: Type.Array(UnavailableModelSchema, { description: 'Model folders that cannot serve, with the reason' }),
  },
  { $id: 'ModelList', 'x-component': 'ModelList' },
);

const PresetCallFields = {
  supported: Type.Boolean({ description: 'Whether the library has this method; a request for it under this preset gets a 400 otherwise' }),
  call: Type.Optional(Type.String({ description: 'The library call reproduced, with its defaults' })),
  returns: Type.Optional(Type.String({ description: 'What that call returns' })),
  defaults: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Parameter defaults the preset sets' })),
  reason: Type.Optional(Type.String({ description: 'Why the preset refuses this method' })),
};
const PresetCallSchema = Type.Object({
  ...PresetCallFields,
  bases: Type.Optional(Type.Record(Type.String(), Type.Object(PresetCallFields), { description: 'SmoothGrad family: the same per base method' })),
});

export const MethodSchema = Type.Object(
  {
    name: Type.String(),
    kind: Type.String({ description: "'sensitivity' maps are rendered as magnitudes, 'attribution' maps keep their sign" }),
    description: Type.String(),
    parameters: Type.Array(Type.String({ description: 'Parameters this method reads' })),
    bases: Type.Optional(Type.Array(Type.String(), { description: 'The base methods this method accepts (methods with a base parameter)' })),
    defaults: Type.Record(Type.String(), Type.Unknown()),
    presets: Type.Optional(
      Type.Record(Type.String(), PresetCallSchema, {
        description: 'Per parity preset (captum, pair, xplique): the library call this method reproduces under it, or why it is refused',
      }),
    ),
  },
  { $id: 'Method', 'x-component': 'Method' },
);

export const MethodListSchema = Type.Object(
  {
    methods: Type.Array(MethodSchema),
    parameters: Type.Unknown({ description: 'JSON Schema of the method parameters (the one requests are validated with)' }),
    render: Type.Unknown({ description: 'Rendering parameters, values and defaults' }),
    metrics: Type.Optional(Type.Unknown({ description: 'Quality metrics a job may ask for (metrics=…), with their cost' })),
  },
  { $id: 'MethodList', 'x-component': 'MethodList' },
);

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, description: 'Explanation id, as returned by POST /v1/explanations' }) });

// --- Rendering parameters (docs/methods.md, "Rendering"): the values come from the renderer's own lists.
// The rendering routes validate them with resolveRenderOptions (which also accepts colormap names in
// any case and answers SALIENCY_BAD_RENDER_PARAM saying what is allowed); this schema describes them.
const MapParams = {
  reduce: Type.Optional(StringEnum(REDUCTIONS, { description: "Reduction over channels; default 'l2' for sensitivity maps, 'sum' for attributions" })),
  sign: Type.Optional(StringEnum(SIGNS, { description: "Which values to show; default 'abs' for sensitivity maps, 'all' for attributions" })),
  clip: Type.Optional(
    Type.Number({
      exclusiveMinimum: 0,
      maximum: 100,
      description:
        "Upper percentile where the map saturates (of |v| for signed maps); default 99, or the preset visualiser's (captum 98, pair 99, xplique 99.9)",
    }),
  ),
  scale: Type.Optional(
    Type.Union([Type.Literal('image'), Type.Number({ exclusiveMinimum: 0 })], {
      default: 'image',
      description:
        "'image' divides by this image's clip value; a fixed number makes maps of different images comparable. The value used is in X-Saliency-Scale",
    }),
  ),
  scaling: Type.Optional(
    StringEnum(SCALINGS, {
      description:
        "'service', or a library visualiser's scaling: 'captum' (visualize_image_attr: divide by the value holding clip % of the cumulative sorted mass), 'pair' (VisualizeImageGrayscale: (v − min)/(p_clip − min); sign all: VisualizeImageDiverging, (v + s)/2s clamped to [−1, 1], s = |p_clip|, so zero sits at 0.5), 'xplique' (plot_attributions: clip to [p_(100−clip), p_clip], min-max). Default: the preset the result was computed under, else 'service'; it also sets reduce, sign and clip defaults",
    }),
  ),
};
export const MapQuery = Type.Object(
  { ...MapParams, target: Type.Optional(Type.String({ description: 'Several-target jobs: the class whose map to return (default: the first)' })) },
  { additionalProperties: false },
);
export const RenderQuery = Type.Object(
  {
    ...MapParams,
    colormap: Type.Optional(StringEnum(COLORMAPS, { description: "Default 'viridis' for one-signed maps, 'RdBu' for signed maps; 'jet' only on request" })),
    overlay: Type.Optional(
      Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: 'overlay.png: heatmap opacity over a grayscale copy of the image' }),
    ),
    size: Type.Optional(
      StringEnum(['input', 'original'] as const, {
        default: 'original',
        description: "'input': model resolution; 'original': projected back onto the uploaded image",
      }),
    ),
    target: Type.Optional(Type.String({ description: 'Several-target jobs: the class whose map to render (default: the first)' })),
  },
  { additionalProperties: false },
);

export const MapSchema = Type.Object(
  {
    width: Type.Integer({ description: 'Columns (model input resolution)' }),
    height: Type.Integer({ description: 'Rows' }),
    signed: Type.Boolean({ description: 'Whether values keep their sign (reduce sum/mean with sign all)' }),
    clipValue: Type.Number({ description: 'Values are clipped to ±clipValue' }),
    scale: Type.Number({ description: 'Divide values by this for the colour coordinate in [-1, 1] (signed) or [0, 1]' }),
    values: Type.Array(Type.Array(Type.Number()), { description: 'Rows of the reduced, clipped map, in attribution units' }),
    metrics: Type.Optional(QualityMetricsSchema),
  },
  { $id: 'Map', 'x-component': 'Map', description: 'The reduced, clipped 2-D map as numbers' },
);

// --- Binary and streamed responses: `content` per media type, as Fastify and OpenAPI both read it.
const binary = (mediaType: string, description: string, headers: Record<string, TSchema> = {}) => ({
  description,
  ...(Object.keys(headers).length > 0 ? { headers } : {}),
  content: { [mediaType]: { schema: Type.String({ contentMediaType: mediaType }) } },
});

export const PngResponse = binary('image/png', 'PNG rendering', {
  'x-saliency-scale': Type.String({ description: 'The scale used (the map was divided by it)' }),
  'x-saliency-clip': Type.String({ description: 'The clip value used (attribution units)' }),
});
export const NpyResponse = binary('application/x-npy', 'float32 .npy (NumPy format 1.0), C order, the model input’s shape with a leading batch of 1');
export const EventStreamResponse = binary(
  'text/event-stream',
  'Server-Sent Events. Every event has an `id:`; reconnecting with Last-Event-ID resumes after it. Events: `status` (the explanation, first), `progress` ({done, total, stage}), then one final `completed`, `failed` or `cancelled` carrying the explanation, after which the stream ends. Comment lines are heartbeats.',
);

export const EventsHeaders = Type.Object({
  'last-event-id': Type.Optional(
    Type.String({ maxLength: 256, description: 'The id of the last event received: resume after it (EventSource sends it when reconnecting)' }),
  ),
});

const retryAfter = { 'retry-after': Type.String({ description: 'Seconds to wait before retrying' }) };
const error = (description: string, headers: Record<string, TSchema> = {}) => ({
  ...ErrorSchema,
  description,
  ...(Object.keys(headers).length > 0 ? { headers } : {}),
});

/** Errors every /v1 route can answer (authentication and rate limits are hooks of the /v1 scope). */
export const V1Errors = {
  401: error('No or an unknown API key (only when the server has API keys configured)'),
  429: error('Rate limited', retryAfter),
  '4xx': error('Bad request: the code says what and the message what to do'),
  503: error('The job backend is unavailable or the queue is full', retryAfter),
  '5xx': error('Internal error (the message carries the request id)'),
};

// --- POST /v1/explanations
const MAX_WAIT_SECONDS = 60;
export const SubmitQuery = Type.Object(
  {
    wait: Type.Optional(
      Type.Number({ minimum: 0, maximum: MAX_WAIT_SECONDS, description: 'Wait up to this many seconds for the jobs to finish (as Prefer: wait=N)' }),
    ),
  },
  { additionalProperties: false },
);
export const SubmitHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 257,
      description:
        'Makes retries safe: a POST with the same key and body within IDEMPOTENCY_TTL_SECONDS (default 24 h) answers as the first did (Idempotent-Replayed: true) and creates no jobs; another body → 422, the first still being processed → 409',
    }),
  ),
  'cache-control': Type.Optional(Type.String({ description: '`no-cache` computes anew even when an earlier identical job could answer (see `cached`)' })),
  prefer: Type.Optional(
    Type.String({
      description: `RFC 7240 \`wait=N\` (N ≤ ${MAX_WAIT_SECONDS}): answer 200 when every job finished within N seconds, else 202`,
      examples: ['wait=30'],
    }),
  ),
});

/** Form fields and JSON properties other than files: the model, the target and the method parameters. */
const SubmissionFields = {
  model: Type.Optional(Type.String({ description: 'Model id (GET /v1/models); may be omitted when one model is installed' })),
  target: Type.Optional(
    Type.Union([Type.Integer({ minimum: 0 }), Type.String()], { description: 'Class index or label to explain; default: the predicted class' }),
  ),
  targets: Type.Optional(
    Type.Union([Type.String(), Type.Array(Type.Union([Type.Integer({ minimum: 0 }), Type.String()]))], {
      description: 'Several classes in one job, one map each: indices or labels (`3,7,tabby` or a JSON array), or `top-k` (e.g. top-3); not with `target`',
    }),
  ),
  metrics: Type.Optional(
    Type.String({ description: 'Quality metrics to compute with the explanation, comma-separated (GET /v1/methods lists them and their cost)' }),
  ),
  flip_steps: Type.Optional(Type.Integer({ minimum: 1, maximum: 256, description: 'Pixel flipping: steps of each curve (default 32)' })),
  imputation: Type.Optional(
    StringEnum(['zeros', 'mean'] as const, { description: "Pixel flipping: what flipped pixels become (default 'zeros' in model space)" }),
  ),
  webhook: Type.Optional(
    Type.String({
      format: 'uri',
      description:
        'POSTed (Standard Webhooks signature) when each job ends; its host must be on the server’s WEBHOOK_ALLOWED_HOSTS. Without it, the API key’s webhook (API_KEY_WEBHOOKS), if any',
    }),
  ),
  ...MethodParamsSchema.properties,
  method: Type.Optional({ ...MethodName, default: 'gradient' }),
};

const file = (description: string) => Type.String({ contentMediaType: 'application/octet-stream', description });
export const MultipartSubmission = Type.Object(
  {
    image: Type.Optional(Type.Array(file('An image (JPEG, PNG, WebP, GIF, TIFF, AVIF); repeat the field for several, one job each'))),
    tensor: Type.Optional(file('Instead of images: one float32 .npy already preprocessed, the model input’s shape with or without a batch of 1')),
    ...SubmissionFields,
    // The one name that is both a field and a file: a baseline name, or the file with baseline=uploaded.
    baseline: Type.Optional(
      Type.Union([MethodParamsSchema.properties.baseline, file('With a baseline=uploaded field: the Integrated Gradients baseline, a .npy like tensor')]),
    ),
  },
  { additionalProperties: false, description: 'Files and fields; field values are strings, converted strictly' },
);
const base64 = (description: string) => Type.String({ contentEncoding: 'base64', description: `${description}, base64 (a data: URL prefix is accepted)` });
export const JsonSubmission = Type.Object(
  {
    image: Type.Optional(base64('One image')),
    images: Type.Optional(Type.Array(base64('An image'), { description: 'Several images, one job each' })),
    tensor: Type.Optional(base64('A float32 .npy, already preprocessed')),
    ...SubmissionFields,
    baseline: Type.Optional(
      Type.Union([MethodParamsSchema.properties.baseline, base64('The Integrated Gradients baseline .npy (uploaded)')], {
        description: 'A baseline name, or the baseline .npy itself',
      }),
    ),
  },
  { additionalProperties: false },
);

/**
 * The request body of POST /v1/explanations. Fastify cannot validate a multipart body that the
 * handler streams (parts are read with their own limits), so submission.ts checks these fields with
 * the same MethodParamsSchema; this is the body as the OpenAPI document describes it.
 */
export const SubmissionBody = {
  description: 'Send multipart/form-data or application/json',
  content: {
    'multipart/form-data': { schema: MultipartSubmission },
    'application/json': { schema: JsonSubmission },
  },
};

const location = { location: Type.String({ description: 'The explanation’s URL, when one job was created' }) };
const replayed = {
  'idempotent-replayed': Type.String({ description: "'true' when this is the stored answer to an earlier request with the same Idempotency-Key" }),
};
export const SubmitResponses = {
  200: { ...ExplanationListSchema, description: 'Every job finished within the wait', headers: { ...location, ...replayed } },
  202: { ...ExplanationListSchema, description: 'Accepted; poll links.self or follow links.events', headers: { ...location, ...replayed } },
  409: error('A request with this Idempotency-Key is still being processed', retryAfter),
  413: error('The upload or the number of files is over the limit'),
  415: error('Neither multipart/form-data nor application/json, or an unsupported image format'),
  422: error('This Idempotency-Key was used with another request body'),
  ...V1Errors,
};

// --- Operations
export const HealthSchema = Type.Object({ status: Type.Literal('ok') });
const Readiness = Type.Object({
  status: StringEnum(['ready', 'not ready'] as const),
  mode: Type.String({ description: "'embedded' or 'distributed'" }),
  backend: Type.Boolean({ description: 'The job backend answers' }),
  workers: Type.Integer({ description: 'Workers seen' }),
  models: Type.Integer({ description: 'Installed models' }),
});
export const ReadinessResponses = {
  200: { ...Readiness, description: 'Ready: backend reachable, models loaded, workers seen' },
  // Not ready: the readiness report, or the shutdown error once the server is draining.
  503: { ...Type.Union([Readiness, ErrorSchema]), description: 'Not ready, or shutting down (SALIENCY_SHUTTING_DOWN)', headers: retryAfter },
};
export const MetricsResponse = { description: 'Prometheus text exposition format 0.0.4', content: { 'text/plain': { schema: Type.String() } } };
/** Every route can answer a 4xx for a malformed request (an undecodable URL, a bad header). */
export const CommonErrors = { '4xx': error('Malformed request') };

/** attribution.npy: a several-target job's one class, or (absent) every class stacked. */
export const TargetQuery = Type.Object(
  { target: Type.Optional(Type.String({ description: 'Several-target jobs: the class whose map to return (default: all, [K, …])' })) },
  { additionalProperties: false },
);
