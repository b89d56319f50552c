// The manifest beside each model: how to turn an image into its input, what its outputs mean.
import { type Static, Type } from '@sinclair/typebox';

export const ManifestSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ description: 'Display name' })),
    description: Type.Optional(Type.String()),
    file: Type.String({ default: 'model.onnx', description: 'ONNX file, relative to the model folder' }),
    input: Type.Object({
      name: Type.Optional(Type.String({ description: 'Graph input to explain; default the first' })),
      layout: Type.Union([Type.Literal('NCHW'), Type.Literal('NHWC')], { default: 'NCHW' }),
      size: Type.Tuple([Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 })], { description: '[H, W]' }),
      channels: Type.Union([Type.Literal(1), Type.Literal(3)], { default: 3 }),
      resize: Type.Object(
        {
          mode: Type.Union([Type.Literal('resize-crop'), Type.Literal('resize'), Type.Literal('pad')], { default: 'resize-crop' }),
          shorter: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])),
        },
        { default: { mode: 'resize-crop' } },
      ),
      range: Type.Union([Type.Tuple([Type.Literal(0), Type.Literal(1)]), Type.Tuple([Type.Literal(0), Type.Literal(255)])], { default: [0, 1] }),
      mean: Type.Array(Type.Number(), { default: [0, 0, 0] }),
      std: Type.Array(Type.Number({ exclusiveMinimum: 0 }), { default: [1, 1, 1] }),
    }),
    labels: Type.Optional(Type.String({ description: 'Labels file (one per line), relative to the model folder' })),
    output: Type.Object(
      {
        name: Type.Optional(Type.String()),
        kind: Type.Union([Type.Literal('logits'), Type.Literal('probabilities')], { default: 'logits' }),
      },
      { default: {} },
    ),
    gradCamLayer: Type.Optional(Type.String({ description: 'Default Grad-CAM layer (a 4-D tensor name)' })),
  },
  { additionalProperties: false },
);

export type Manifest = Static<typeof ManifestSchema>;
