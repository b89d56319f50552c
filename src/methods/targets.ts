// Target classes: explicit per sample, or the argmax of each sample's logits.
import { type Tensor } from './runner.js';

export class TargetError extends Error {
  override name = 'TargetError';
}

function rows(logits: Tensor): Float32Array[] {
  const [n = 0, k = 0] = logits.dims;
  return Array.from({ length: n }, (_, i) => logits.data.subarray(i * k, (i + 1) * k));
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if ((row[i] as number) > (row[best] as number)) best = i;
  return best;
}

export function topK(logits: Tensor, k = 5): { index: number; logit: number }[][] {
  return rows(logits).map((row) =>
    Array.from(row, (logit, index) => ({ index, logit }))
      .sort((a, b) => b.logit - a.logit)
      .slice(0, k),
  );
}

/** Classes of an explained output of shape [batch, classes]; a TargetError for any other shape. */
export function classCount(shape: readonly (number | string)[] | undefined): number {
  const classes = shape?.[1];
  if (shape?.length !== 2 || typeof classes !== 'number')
    throw new TargetError(`the explained output must be [batch, classes], got [${shape?.join(',') ?? '?'}]`);
  return classes;
}

/** One target per sample: given (one for all, or one each) or the argmax of the logits. */
export function resolveTargets(logits: Tensor, given?: readonly number[]): number[] {
  const classes = classCount(logits.dims);
  const n = logits.dims[0] as number;
  if (!given || given.length === 0) return rows(logits).map(argmax);
  return givenTargets(n, classes, given);
}

/** The given targets (one for all, or one each) checked and spread to one per sample. */
export function givenTargets(n: number, classes: number, given: readonly number[]): number[] {
  if (given.length !== 1 && given.length !== n) throw new TargetError(`got ${given.length} targets for ${n} samples: give one, or one per sample`);
  for (const t of given) {
    if (!Number.isInteger(t) || t < 0 || t >= classes) throw new TargetError(`target ${t} is not a class index in 0..${classes - 1}`);
  }
  return Array.from({ length: n }, (_, i) => (given.length === 1 ? given[0] : given[i]) as number);
}

/** The cotangent seeding the backward pass: one-hot on each sample's target logit. */
export function oneHotSeed(targets: readonly number[], classes: number): Tensor {
  const data = new Float32Array(targets.length * classes);
  targets.forEach((t, i) => (data[i * classes + t] = 1));
  return { data, dims: [targets.length, classes] };
}
