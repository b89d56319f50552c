// Response shapes of the API: one schema each, used by the routes (serialisation), the OpenAPI
// document and the tests.
import { type Static, Type } from '@sinclair/typebox';
import { JobErrorSchema, JobStateSchema, ProgressSchema, QualityMetricsSchema, TargetMapSchema } from '../jobs/contract.js';

export const ErrorSchema = Type.Object(
  { error: Type.Object({ code: Type.String(), message: Type.String(), requestId: Type.Optional(Type.String()) }) },
  { $id: 'Error', description: 'Every error: a stable code and a message that says what to do' },
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
      Type.Object({ shape: Type.Array(Type.Integer()), min: Type.Number(), max: Type.Number(), kind: Type.String(), completenessGap: Type.Optional(Type.Number()), layer: Type.Optional(Type.String()), sigma: Type.Optional(Type.Number()) }),
    ),
    targets: Type.Optional(
      Type.Array(TargetMapSchema, { description: 'Several-target jobs: one map per class, in the order of the attribution’s first axis; ?target=<index> on heatmap.png, overlay.png, map.json and attribution.npy picks one' }),
    ),
    metrics: Type.Optional(QualityMetricsSchema),
    image: Type.Optional(Type.Object({ width: Type.Integer(), height: Type.Integer(), format: Type.String() })),
    error: Type.Optional(JobErrorSchema),
    attempts: Type.Optional(Type.Integer()),
    timings: Type.Object({ submittedAt: Type.String(), queuedMs: Type.Optional(Type.Number()), computeMs: Type.Optional(Type.Number()), totalMs: Type.Optional(Type.Number()) }),
    links: Links,
  },
  { $id: 'Explanation' },
);
export type Explanation = Static<typeof ExplanationSchema>;

export const ExplanationListSchema = Type.Object({ explanations: Type.Array(ExplanationSchema) }, { $id: 'ExplanationList' });

const ModelStatus = Type.Union([Type.Literal('ready'), Type.Literal('unavailable')], {
  description: "'ready': jobs may be submitted; 'unavailable': the model folder cannot serve (see error) and submissions get that error",
});

export const ModelSchema = Type.Object(
  {
    id: Type.String(),
    status: ModelStatus,
    name: Type.Optional(Type.String()),
    description: Type.Optional(Type.String()),
    input: Type.Object({ layout: Type.String(), size: Type.Array(Type.Integer()), channels: Type.Integer(), range: Type.Array(Type.Number()), mean: Type.Array(Type.Number()), std: Type.Array(Type.Number()) }),
    output: Type.Object({ kind: Type.String() }),
    classes: Type.Optional(Type.Integer()),
    labels: Type.Optional(Type.Array(Type.String())),
    methods: Type.Array(Type.String()),
    gradCamLayer: Type.Optional(Type.String()),
    hash: Type.String(),
    bytes: Type.Integer(),
  },
  { $id: 'Model' },
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
  { $id: 'UnavailableModel' },
);

export const ModelListSchema = Type.Object({
  models: Type.Array(ModelSchema, { description: 'Models that serve' }),
  unavailable: Type.Array(UnavailableModelSchema, { description: 'Model folders that cannot serve, with the reason' }),
});

export const MethodSchema = Type.Object(
  {
    name: Type.String(),
    kind: Type.String({ description: "'sensitivity' maps are rendered as magnitudes, 'attribution' maps keep their sign" }),
    description: Type.String(),
    parameters: Type.Array(Type.String({ description: 'Parameters this method reads' })),
    defaults: Type.Record(Type.String(), Type.Unknown()),
  },
  { $id: 'Method' },
);

export const MethodListSchema = Type.Object({
  methods: Type.Array(MethodSchema),
  parameters: Type.Unknown({ description: 'JSON Schema of the method parameters (the one requests are validated with)' }),
  render: Type.Unknown({ description: 'Rendering parameters, values and defaults' }),
  metrics: Type.Optional(Type.Unknown({ description: 'Quality metrics a job may ask for (metrics=…), with their cost' })),
});

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

export const RenderQuery = Type.Object(
  {
    reduce: Type.Optional(Type.String()),
    sign: Type.Optional(Type.String()),
    clip: Type.Optional(Type.String()),
    scale: Type.Optional(Type.String()),
    colormap: Type.Optional(Type.String()),
    overlay: Type.Optional(Type.String()),
    size: Type.Optional(Type.String()),
    target: Type.Optional(Type.String({ description: 'Several-target jobs: the class whose map to render (default: the first)' })),
  },
  { additionalProperties: false },
);

/** attribution.npy: a several-target job's one class, or (absent) every class stacked. */
export const TargetQuery = Type.Object(
  { target: Type.Optional(Type.String({ description: 'Several-target jobs: the class whose map to return (default: all, [K, …])' })) },
  { additionalProperties: false },
);
