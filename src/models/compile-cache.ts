// On-disk cache of what compiling a model needs that is expensive to recompute: the shape probe's
// tensor facts, keyed by the model's content hash, the per-sample input shape (a model with
// symbolic H and W has different facts at each size) and the compiler version (a new compiler
// never reads an old entry). Writes are atomic (temp file + rename), so concurrent workers are safe.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Dim, type TensorFacts } from '../onnx/shapes.js';

/** Bump when a change to the compiler or the probe changes what is cached. */
export const COMPILER_VERSION = 2;

interface Stored {
  version: number;
  /** Whether the model runs at any batch size (see runtime/shape-probe.ts symbolicBatch). */
  batching?: 'dynamic' | 'fixed';
  shapes: [string, Dim[]][];
  values: [string, Dim[]][];
  types: [string, number][];
}

function path(cacheDir: string, hash: string, inputShape: readonly number[] | undefined): string {
  const shape = inputShape ? `.${inputShape.join('x')}` : '';
  return join(cacheDir, `${hash}${shape}.facts.v${COMPILER_VERSION}.json`);
}

export function readCachedFacts(cacheDir: string, hash: string, inputShape?: readonly number[]): TensorFacts | undefined {
  try {
    const stored = JSON.parse(readFileSync(path(cacheDir, hash, inputShape), 'utf8')) as Stored;
    if (stored.version !== COMPILER_VERSION) return undefined;
    return { shapes: new Map(stored.shapes), values: new Map(stored.values), types: new Map(stored.types) };
  } catch {
    return undefined;
  }
}

export function writeCachedFacts(cacheDir: string, hash: string, facts: TensorFacts, inputShape?: readonly number[], batching?: 'dynamic' | 'fixed'): void {
  mkdirSync(cacheDir, { recursive: true });
  const stored: Stored = { version: COMPILER_VERSION, ...(batching && { batching }), shapes: [...facts.shapes], values: [...facts.values], types: [...facts.types] };
  const target = path(cacheDir, hash, inputShape);
  const temp = `${target}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(temp, JSON.stringify(stored));
  renameSync(temp, target);
}

/**
 * What a worker found about a model's batch when it opened it ('fixed': the graph only runs at
 * its own batch size, one point per run), for the model's info; undefined before any worker did.
 */
export function cachedBatching(cacheDir: string, hash: string, inputShape?: readonly number[]): 'dynamic' | 'fixed' | undefined {
  try {
    const stored = JSON.parse(readFileSync(path(cacheDir, hash, inputShape), 'utf8')) as Stored;
    return stored.version === COMPILER_VERSION ? stored.batching : undefined;
  } catch {
    return undefined;
  }
}
