// Static facts about the tensors of a graph: shapes with a symbolic batch dimension, and the
// values of small integer tensors (shape arithmetic). Produced by a shape probe, read by the
// compiler to choose reduction axes, paddings and output paddings statically.

/** A dimension: a number, or a symbolic multiple of the batch size such as 'N' or '12*N'. */
export type Dim = number | string;

export interface TensorFacts {
  shapes: Map<string, Dim[]>;
  /** Values of small integer tensors, where known (symbolic where they depend on the batch). */
  values: Map<string, Dim[]>;
  /** ONNX element type of each tensor. */
  types: Map<string, number>;
}

export const BATCH = 'N';

/** The symbolic dimension `k*N` in its canonical spelling. */
export function batchDim(k: number): Dim {
  return k === 1 ? BATCH : `${k}*${BATCH}`;
}

/** k of a symbolic dimension `k*N` (1 for `N`); undefined for a static one. */
export function batchMultiple(d: Dim): number | undefined {
  if (typeof d === 'number') return undefined;
  return d === BATCH ? 1 : Number(d.split('*')[0]);
}

/** Product of dimensions (1 for none). */
export function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/**
 * Elements per batch item of a tensor whose batch axis is `k*N`: k times its static dimensions.
 * Undefined when no axis depends on the batch.
 */
export function perSampleElements(shape: readonly Dim[]): number | undefined {
  const multiple = shape.map(batchMultiple).find((k) => k !== undefined);
  return multiple === undefined ? undefined : multiple * product(shape.filter((d): d is number => typeof d === 'number'));
}

/** Combines one dimension observed at batch 1 and at batch 2 into a (possibly symbolic) Dim. */
export function unifyDim(atBatch1: number, atBatch2: number): Dim | undefined {
  if (atBatch1 === atBatch2) return atBatch1;
  if (atBatch2 === 2 * atBatch1) return batchDim(atBatch1);
  return undefined;
}

/**
 * Axes of `full` that a tensor of shape `part` was broadcast along (numpy rules): the leading
 * axes it lacks and the axes where it has 1 and `full` does not. Returns the axes to sum, and
 * whether the summed result still needs a reshape (leading axes removed).
 */
export function broadcastAxes(part: readonly Dim[], full: readonly Dim[]): { axes: number[]; lead: number } {
  const lead = full.length - part.length;
  const axes: number[] = [];
  for (let i = 0; i < full.length; i++) {
    if (i < lead) axes.push(i);
    else if (part[i - lead] === 1 && full[i] !== 1) axes.push(i);
  }
  return { axes, lead };
}
