// Tiny classifiers written to .onnx files for onboarding tests: an NHWC one, and one with an op
// the compiler has no rule for. Seeded weights, so every run writes the same bytes.
import { writeFileSync } from 'node:fs';
import { attr } from '../../src/onnx/attributes.js';
import { type Model, type Node, modelToProto } from '../../src/onnx/ir.js';
import { encodeModel } from '../../src/onnx/proto.js';
import { graphModel, seededWeights } from './tiny-graph.js';

const weights = seededWeights;

/**
 * x [N,H,W,3] (or [N,3,H,W]) → (Transpose) → Conv 3→C 3×3 → `activation` → GlobalAveragePool → Flatten → Gemm → logits [N,classes].
 */
export function tinyClassifier(options: { layout: 'NCHW' | 'NHWC'; size: number; classes: number; activation?: string; channels?: number }): Model {
  const C = options.channels ?? 6;
  const { size, classes } = options;
  const nchw = options.layout === 'NCHW';
  const nodes: Omit<Node, 'domain' | 'name'>[] = [
    ...(nchw ? [] : [{ opType: 'Transpose', inputs: ['x'], outputs: ['x_nchw'], attrs: { perm: attr.ints([0, 3, 1, 2]) } }]),
    {
      opType: 'Conv',
      inputs: [nchw ? 'x' : 'x_nchw', 'w1', 'b1'],
      outputs: ['conv'],
      attrs: { pads: attr.ints([1, 1, 1, 1]), kernel_shape: attr.ints([3, 3]) },
    },
    { opType: options.activation ?? 'Relu', inputs: ['conv'], outputs: ['features'], attrs: {} },
    { opType: 'GlobalAveragePool', inputs: ['features'], outputs: ['pooled'], attrs: {} },
    { opType: 'Flatten', inputs: ['pooled'], outputs: ['flat'], attrs: { axis: attr.int(1) } },
    { opType: 'Gemm', inputs: ['flat', 'w2', 'b2'], outputs: ['logits'], attrs: { transB: attr.int(1) } },
  ];
  return graphModel({
    x: nchw ? [3, size, size] : [size, size, 3],
    opset: 17,
    nodes,
    output: 'logits',
    initializers: {
      w1: weights(1, [C, 3, 3, 3], 0.3),
      b1: weights(2, [C], 0.1),
      w2: weights(3, [classes, C], 0.5),
      b2: weights(4, [classes], 0.1),
    },
  });
}

export function writeModel(path: string, model: Model): string {
  writeFileSync(path, encodeModel(modelToProto(model)));
  return path;
}
