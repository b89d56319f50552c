// One graph per method family that never lets per-sample gradients leave the runtime:
//
//   x̃_s   = x + ε_s                                   noisy copies (ε = 0 without noise)
//   p_st  = x₀ + α_t (x̃_s − x₀)                        path points (α = 1, x₀ = 0: the copy itself)
//   P_s   = Σ_t w_t ∇y(p_st)                           gradient, or IG's quadrature
//   B_s   = P_s ⊙ (x̃_s − x₀)  when `multiply`         gradient×input, IG
//   B_s   = |B_s|              when `absolute`         Captum's Saliency (abs=True)
//   out   = Σ_s B_s  and  Σ_s B_s²                    SmoothGrad, SmoothGrad², VarGrad moments
//
// One graph returns all four sums (P and P ⊙ (x̃ − x₀), each plain and squared): ONNX Runtime runs
// every node of a graph whatever is fetched, and the extra products and sums over input-sized
// tensors cost well under 1% of a run, while a session per combination held its own activation
// arena (VGG-16: about 0.5 GB each).
//
// Batch B, samples S and steps T are runtime dimensions: one session serves every chunk size.
// The graph also returns the explained output at every point, and with `pick` = 1 seeds each
// point with the one-hot of its own argmax: a single-point method (gradient, gradient×input,
// Guided Backprop) then picks its target in the same run, with no forward pass before it.
// In 'steps' mode (a quadrature too long for one run) the graph returns Σ_s P_s unmultiplied and
// the caller finishes the sum over step chunks.
import { type CompileResult, inputGradient } from '../gradgraph/index.js';
import { attr, type Attributes } from '../onnx/attributes.js';
import { GraphBuilder } from '../onnx/builder.js';
import { type Model, type ValueInfo } from '../onnx/ir.js';

export const FUSED = {
  images: 'fused/images',
  noise: 'fused/noise',
  baseline: 'fused/baseline',
  alphas: 'fused/alphas',
  weights: 'fused/weights',
  seed: 'fused/seed',
  pick: 'fused/pick',
  logits: 'fused/logits',
  sum: 'fused/sum',
  sumOfSquares: 'fused/sum_of_squares',
  productSum: 'fused/product_sum',
  productSumOfSquares: 'fused/product_sum_of_squares',
} as const;

/** The outputs holding Σ_s B_s and Σ_s B_s², with or without the multiplication by (x̃ − x₀). */
export function fusedOutputs(multiply: boolean): { sum: string; sumOfSquares: string } {
  return multiply ? { sum: FUSED.productSum, sumOfSquares: FUSED.productSumOfSquares } : { sum: FUSED.sum, sumOfSquares: FUSED.sumOfSquares };
}

export interface FusedOptions {
  /** Take |B_s| of each sample before the sums (Captum's Saliency, abs=True). */
  absolute?: boolean;
}

export function buildFusedGraph(compiled: CompileResult, sampleShape: readonly number[], options: FusedOptions = {}): Model {
  const source = compiled.model;
  const gradient = inputGradient(compiled);
  const graph = { ...source.graph, nodes: [] as Model['graph']['nodes'], initializers: new Map(source.graph.initializers) };
  const b = new GraphBuilder({ ...graph, nodes: source.graph.nodes }, source.opset, 'fused');
  const seedInfo = source.graph.inputs.find((v) => v.name === compiled.seed);
  const classes = seedInfo?.dims?.[1];
  if (typeof classes !== 'number') throw new Error(`the explained output must be [batch, classes], got ${JSON.stringify(seedInfo?.dims)}`);
  const rank = sampleShape.length;
  const trailingOnes = new Array<number>(rank).fill(1);

  // Pre: images [B,…], noise [B,S,…], baseline [B,…], alphas [T] → points [B·S·T, …].
  const noisy = b.add(b.unsqueeze(FUSED.images, [1]), FUSED.noise);
  const base = b.unsqueeze(FUSED.baseline, [1]);
  const delta = b.sub(noisy, base); // [B,S,…]
  const alphas = b.reshape(FUSED.alphas, b.ints([-1, ...trailingOnes]));
  const points = b.add(b.unsqueeze(base, [2]), b.mul(alphas, b.unsqueeze(delta, [2]))); // [B,S,T,…]
  const dimsBS = b.slice(b.shapeOf(FUSED.noise), [0], [2], [0]);
  const dimsBST = b.op('Concat', [dimsBS, b.shapeOf(FUSED.alphas)], { axis: attr.int(0) });
  b.nodes.push({ name: 'fused/points', opType: 'Reshape', domain: '', inputs: [points, b.ints([-1, ...sampleShape])], outputs: [compiled.input], attrs: {} });
  const given = b.reshape(
    b.op('Expand', [b.unsqueeze(FUSED.seed, [1, 2]), b.op('Concat', [dimsBST, b.ints([classes])], { axis: attr.int(0) })]),
    b.ints([-1, classes]),
  );
  const preNodes = b.nodes.splice(0);

  // Seeds [B·S·T, classes], once the forward pass has the explained output: the given seed, or
  // (pick = 1) the one-hot of each point's first maximum. Both terms are exact: x·1 + y·0 = x.
  // `select_last_index` exists from opset 12; before it ArgMax always picks the first maximum.
  const firstMax: Attributes = source.opset >= 12 ? { select_last_index: attr.int(0) } : {};
  const argmax = b.op('ArgMax', [compiled.explained], { axis: attr.int(1), keepdims: attr.int(0), ...firstMax });
  const picked = b.op('OneHot', [argmax, b.ints([classes], []), b.floats([0, 1], [2])], { axis: attr.int(-1) });
  const keep = b.sub(b.scalar(1), FUSED.pick);
  b.nodes.push({
    name: 'fused/seeds',
    opType: 'Add',
    domain: '',
    inputs: [b.mul(given, keep), b.mul(picked, FUSED.pick)],
    outputs: [compiled.seed],
    attrs: {},
  });
  b.nodes.push({ name: 'fused/logits/identity', opType: 'Identity', domain: '', inputs: [compiled.explained], outputs: [FUSED.logits], attrs: {} });
  const seedNodes = b.nodes.splice(0);
  // They go right after the node producing the explained output: before every backward node.
  const split = source.graph.nodes.findIndex((n) => n.outputs.includes(compiled.explained)) + 1;

  // Post: ∇ [B·S·T, …] → P [B,S,…] → B_s → sums over S.
  const perPoint = b.reshape(gradient, b.op('Concat', [dimsBST, b.ints([...sampleShape])], { axis: attr.int(0) }));
  const weights = b.reshape(FUSED.weights, b.ints([-1, ...trailingOnes]));
  const P = b.reduceSum(b.mul(perPoint, weights), [2], false);
  const signed = b.mul(P, delta);
  const Pa = options.absolute ? b.op('Abs', [P]) : P;
  const PD = options.absolute ? b.op('Abs', [signed]) : signed;
  const outputs: ValueInfo[] = [{ name: FUSED.logits, elemType: 1, dims: ['P', classes] }];
  const emit = (from: string, to: string) => {
    b.nodes.push({ name: `${to}/identity`, opType: 'Identity', domain: '', inputs: [from], outputs: [to], attrs: {} });
    outputs.push({ name: to, elemType: 1, dims: ['B', ...sampleShape] });
  };
  emit(b.reduceSum(Pa, [1], false), FUSED.sum);
  emit(b.reduceSum(b.mul(Pa, Pa), [1], false), FUSED.sumOfSquares);
  emit(b.reduceSum(PD, [1], false), FUSED.productSum);
  emit(b.reduceSum(b.mul(PD, PD), [1], false), FUSED.productSumOfSquares);

  const f = (name: string, dims: (number | string)[]): ValueInfo => ({ name, elemType: 1, dims });
  return {
    ...source,
    graph: {
      ...graph,
      nodes: [...preNodes, ...source.graph.nodes.slice(0, split), ...seedNodes, ...source.graph.nodes.slice(split), ...b.nodes],
      inputs: [
        f(FUSED.images, ['B', ...sampleShape]),
        f(FUSED.noise, ['B', 'S', ...sampleShape]),
        f(FUSED.baseline, ['B', ...sampleShape]),
        f(FUSED.alphas, ['T']),
        f(FUSED.weights, ['T']),
        f(FUSED.seed, ['B', classes]),
        f(FUSED.pick, [1]),
        ...source.graph.inputs.filter((v) => v.name !== compiled.input && v.name !== compiled.seed),
      ],
      outputs,
      // The gradient graph's input and seed are computed here: keep their declared shapes, whose
      // batch symbol the cotangents' shapes share, or the runtime cannot prove a mask and its
      // cotangent equal in shape and leaves its blocked layout around them.
      valueInfo: [...(graph.valueInfo ?? []), ...source.graph.inputs.filter((v) => v.name === compiled.input || v.name === compiled.seed)],
    },
  };
}
