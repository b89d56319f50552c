// What one job costs, known before it is accepted. A graph point is one forward + backward pass
// of one image through the gradient graph (a row of a batched run); every method is a count of
// them: IG evaluates `steps` points on its path, the SmoothGrad family `samples` noisy copies of
// its base (× steps when the base is IG), SmoothDiff `samples` forward passes plus one backward,
// Guided Grad-CAM two passes, the rest one. Pixels weigh the points by the model's input size,
// which is what a worker's time and memory actually scale with.
import { type MethodParams } from '../jobs/contract.js';
import { NOISY_METHODS, resolveParams } from '../methods/params.js';

export interface JobCost {
  images: number;
  /** Graph points per image. */
  perImage: number;
  /** images × perImage. */
  points: number;
  /** points × model input pixels (H × W). */
  pixels: number;
  /** How `perImage` came about, for messages: "1000 samples × 1000 steps". */
  formula: string;
}

/** The cost of one request's jobs (one job per image). */
export function jobCost(inputSize: readonly number[], params: MethodParams, images = 1, targets = 1): JobCost {
  const { baseline: _baseline, ...rest } = params; // which baseline does not change the cost
  const p = resolveParams(rest, 0);
  const igBase = p.method === 'integrated-gradients' || (NOISY_METHODS.has(p.method) && p.method !== 'smoothdiff' && p.base === 'integrated-gradients');
  const factors: [number, string][] = [];
  if (NOISY_METHODS.has(p.method))
    factors.push(p.method === 'smoothdiff' ? [p.samples + 1, `(${p.samples} samples + 1)`] : [p.samples, `${p.samples} samples`]);
  if (igBase) factors.push([p.steps, `${p.steps} steps`]);
  if (p.method === 'guided-grad-cam') factors.push([2, '2 passes']);
  if (p.method === 'smooth-grad-cam-plus-plus') factors[0] = [p.samples + 1, `(${p.samples} samples + 1)`];
  if (p.method === 'noisegrad' || p.method === 'fusiongrad') factors.push([p.models, `${p.models} models`]);
  if (p.method === 'fusiongrad') factors.push([p.samples, `${p.samples} samples`]);
  if (targets > 1) factors.push([targets, `${targets} targets`]);
  const perImage = factors.reduce((product, [n]) => product * n, 1);
  const [height = 1, width = 1] = inputSize; // the manifest's [H, W]
  const points = images * perImage;
  return {
    images,
    perImage,
    points,
    pixels: points * height * width,
    formula: [`${images} image${images === 1 ? '' : 's'}`, ...factors.map(([, text]) => text)].join(' × '),
  };
}
