// Vanilla gradient (Simonyan et al. 2013): ∂y_c/∂x per sample, signed.
import { type GraphRunner, type Tensor } from './runner.js';
import { oneHotSeed, resolveTargets } from './targets.js';

export interface GradientGraph {
  runner: GraphRunner;
  input: string;
  seed: string;
  gradient: string;
  explained: string;
}

export interface GradientResult {
  attribution: Tensor;
  logits: Tensor;
  targets: number[];
}

/** Logits first (targets default to the argmax on the clean input), then one gradient run. */
export async function gradient(graph: GradientGraph, forward: GraphRunner, outputName: string, x: Tensor, given?: number[]): Promise<GradientResult> {
  const logits = (await forward.run({ [graph.input]: x }, [outputName]))[outputName] as Tensor;
  const targets = resolveTargets(logits, given);
  const seed = oneHotSeed(targets, logits.dims[1] as number);
  const out = await graph.runner.run({ [graph.input]: x, [graph.seed]: seed }, [graph.gradient]);
  return { attribution: out[graph.gradient] as Tensor, logits, targets };
}
