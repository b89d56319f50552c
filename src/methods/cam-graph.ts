// One graph for the CAM family over noisy copies (Smooth Grad-CAM, Grad-CAM++, Smooth Grad-CAM++)
// that never lets a per-copy activation or gradient leave the runtime:
//
//   x̃_s  = x + ε_s                                  noisy copies (ε = 0: the clean image)
//   A_s, G_s = A(x̃_s), ∂y_c/∂A(x̃_s)                  at the CAM layer, [B·S, K, h, w]
//   cam  = Σ_s ReLU?(Σ_k mean_hw(G_s^k) A_s^k)       Smooth Grad-CAM numerator, [B, h, w]
//   g1, g2, g3 = Σ_s G_s, Σ_s G_s², Σ_s G_s³          Grad-CAM++ moments, [B, K, h, w]
//   a    = Σ_s A_s                                   the activations (S = 1: the clean A)
//
// Batch B and samples S are runtime dimensions: one session serves every chunk size. What is
// left (Grad-CAM++'s closed form, the bilinear upsampling) is per image, at layer resolution,
// in grad-cam-plus.ts.
import { type CompileResult, gradName } from '../gradgraph/index.js';
import { GraphBuilder } from '../onnx/builder.js';
import { type Model, type ValueInfo } from '../onnx/ir.js';
import { pruneGraph } from '../onnx/prune.js';
import { attr } from '../onnx/attributes.js';
import { type CamLayer } from './grad-cam.js';

export const CAM = {
  images: 'cam/images',
  noise: 'cam/noise',
  seed: 'cam/seed',
  map: 'cam/map_sum',
  mapRelu: 'cam/map_relu_sum',
  g1: 'cam/g1_sum',
  g2: 'cam/g2_sum',
  g3: 'cam/g3_sum',
  activations: 'cam/activation_sum',
} as const;

/** `compiled` must expose the layer and stop the backward sweep there (see grad-cam.ts). */
export function buildCamGraph(compiled: CompileResult, camLayer: CamLayer, sampleShape: readonly number[]): Model {
  const { name: layer, K, h, w } = camLayer;
  const source = compiled.model;
  const pruned = pruneGraph(source.graph, [layer, gradName(layer)]);
  const graph = { ...pruned, nodes: [] as Model['graph']['nodes'], initializers: new Map(pruned.initializers) };
  const b = new GraphBuilder({ ...graph, nodes: pruned.nodes }, source.opset, 'cam');
  const seedInfo = source.graph.inputs.find((v) => v.name === compiled.seed);
  const classes = seedInfo?.dims?.[1];
  if (typeof classes !== 'number') throw new Error(`the explained output must be [batch, classes], got ${JSON.stringify(seedInfo?.dims)}`);

  // Pre: images [B,…] + noise [B,S,…] → points [B·S,…]; seed [B,classes] → [B·S,classes].
  const noisy = b.add(b.unsqueeze(CAM.images, [1]), CAM.noise);
  b.emit('Reshape', [noisy, b.ints([-1, ...sampleShape])], [compiled.input]);
  const dimsBS = b.slice(b.shapeOf(CAM.noise), [0], [2], [0]);
  const seeds = b.op('Expand', [b.unsqueeze(CAM.seed, [1]), b.op('Concat', [dimsBS, b.ints([classes])], { axis: attr.int(0) })]);
  b.emit('Reshape', [seeds, b.ints([-1, classes])], [compiled.seed]);
  const preNodes = b.nodes.splice(0);

  // Post: A, G [B·S,K,h,w] → [B,S,K,h,w] → per-copy maps and moments, summed over S. An NHWC
  // activation [B·S,h,w,K] is split the same way and its channels moved before h, w.
  const nhwc = camLayer.layout === 'NHWC';
  const perCopy = b.op('Concat', [dimsBS, b.ints(nhwc ? [h, w, K] : [K, h, w])], { axis: attr.int(0) });
  const split = (t: string) => (nhwc ? b.transpose(b.reshape(t, perCopy), [0, 1, 4, 2, 3]) : b.reshape(t, perCopy));
  const A = split(layer);
  const G = split(gradName(layer));
  const alpha = b.reduce('ReduceMean', G, [3, 4], true);
  const map = b.reduceSum(b.mul(alpha, A), [2], false); // [B,S,h,w]
  const G2 = b.mul(G, G);
  const outputs: ValueInfo[] = [];
  const emit = (from: string, to: string, dims: (number | string)[]) => {
    b.emit('Identity', [from], [to]);
    outputs.push({ name: to, elemType: 1, dims });
  };
  emit(b.reduceSum(map, [1], false), CAM.map, ['B', h, w]);
  emit(b.reduceSum(b.op('Relu', [map]), [1], false), CAM.mapRelu, ['B', h, w]);
  emit(b.reduceSum(G, [1], false), CAM.g1, ['B', K, h, w]);
  emit(b.reduceSum(G2, [1], false), CAM.g2, ['B', K, h, w]);
  emit(b.reduceSum(b.mul(G2, G), [1], false), CAM.g3, ['B', K, h, w]);
  emit(b.reduceSum(A, [1], false), CAM.activations, ['B', K, h, w]);

  const f = (name: string, dims: (number | string)[]): ValueInfo => ({ name, elemType: 1, dims });
  return {
    ...source,
    graph: {
      ...graph,
      nodes: [...preNodes, ...pruned.nodes, ...b.nodes],
      inputs: [
        f(CAM.images, ['B', ...sampleShape]),
        f(CAM.noise, ['B', 'S', ...sampleShape]),
        f(CAM.seed, ['B', classes]),
        ...pruned.inputs.filter((v) => v.name !== compiled.input && v.name !== compiled.seed),
      ],
      outputs,
      // As in fused-graph.ts: keep the declared shapes of the computed input and seed.
      valueInfo: [...(graph.valueInfo ?? []), ...source.graph.inputs.filter((v) => v.name === compiled.input || v.name === compiled.seed)],
    },
  };
}
