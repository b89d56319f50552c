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

/** Several classes of one image (multi-target.ts): a list of classes, or the `topK` largest logits. */
export type TargetSpec = { classes: number[] } | { topK: number };

/**
 * The `targets` grammar the API and the CLI share: `top-k`, or a list of classes (comma-separated
 * text, or an array) whose items `resolve` turns into class indices (it throws for an item it
 * cannot: indices and labels are the caller's business). At most `max` classes, none twice; k at
 * most `max` and the class count when it is known. Messages name no flag or field: callers prefix them.
 */
export function parseTargetSpec(value: unknown, resolve: (item: unknown) => number, max = Infinity, classes?: number): TargetSpec {
  const top = typeof value === 'string' ? /^top-(\d+)$/.exec(value.trim()) : null;
  const limit = Math.min(max, classes ?? max);
  if (top) {
    const k = Number(top[1]);
    if (k < 1 || k > limit) throw new TargetError(`top-${k}: k must be ${Number.isFinite(limit) ? `in 1..${limit}` : 'at least 1'}`);
    return { topK: k };
  }
  const items = classItems(value);
  if (items.length === 0 || items.length > max) throw new TargetError(`${items.length} classes listed; give 1 to ${max}`);
  if (items.some((item) => item === '')) throw new TargetError('a list entry is empty');
  const indices = items.map(resolve);
  if (new Set(indices).size !== indices.length) throw new TargetError(`a class is listed twice: ${indices.join(',')}`);
  return { classes: indices };
}

/** The items of a class list: `3,7,tabby` split at the commas, or a JSON array as it is. */
export function classItems(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (typeof value === 'string') return value.split(',').map((v) => v.trim());
  throw new TargetError("give a list of class indices or labels ('3,7' or a JSON array), or 'top-k'");
}
