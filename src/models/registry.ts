// The model registry: one folder per model under MODELS_DIR, each with manifest.json and an ONNX
// file. Manifests are validated at start; models are content-hashed (the compiled-graph cache
// key). Model ids are folder names: nothing from a request becomes a path.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { type Manifest, ManifestSchema } from './manifest.js';

export interface ModelEntry {
  id: string;
  dir: string;
  onnxPath: string;
  manifest: Manifest;
  labels: string[] | undefined;
  /** sha256 of the ONNX file: compiled graphs are cached under it. */
  hash: string;
  bytes: number;
}

export class RegistryError extends Error {
  override name = 'RegistryError';
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function inside(dir: string, file: string): string {
  const path = resolve(dir, file);
  if (relative(dir, path).startsWith('..')) throw new RegistryError(`${file} points outside the model folder ${dir}`);
  return path;
}

export function loadManifest(dir: string): Manifest {
  const path = join(dir, 'manifest.json');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new RegistryError(`${path}: ${(err as Error).message}`);
  }
  const value = Value.Default(ManifestSchema, raw);
  const errors = [...Value.Errors(ManifestSchema, value)];
  if (errors.length > 0) throw new RegistryError(`${path}: ${errors.map((e) => `${e.path || '/'} ${e.message}`).join('; ')}`);
  const manifest = value as Manifest;
  const { channels, mean, std } = manifest.input;
  if (mean.length !== channels || std.length !== channels) throw new RegistryError(`${path}: input.mean and input.std need ${channels} entries`);
  return manifest;
}

export function loadModelEntry(id: string, dir: string): ModelEntry {
  const manifest = loadManifest(dir);
  const onnxPath = inside(dir, manifest.file);
  if (!existsSync(onnxPath)) throw new RegistryError(`model ${id}: ${manifest.file} not found in ${dir}`);
  const bytes = readFileSync(onnxPath);
  const labels = manifest.labels
    ? readFileSync(inside(dir, manifest.labels), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean)
    : undefined;
  return { id, dir, onnxPath, manifest, labels, hash: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
}

export class ModelRegistry {
  private constructor(private readonly entries: Map<string, ModelEntry>) {}

  /** Scans a models directory; a broken model fails the start with a message naming it. */
  static load(modelsDir: string): ModelRegistry {
    if (!existsSync(modelsDir)) throw new RegistryError(`models directory ${modelsDir} does not exist`);
    const entries = new Map<string, ModelEntry>();
    for (const id of readdirSync(modelsDir).sort()) {
      const dir = join(modelsDir, id);
      if (!statSync(dir).isDirectory() || !existsSync(join(dir, 'manifest.json'))) continue;
      if (!ID.test(id)) throw new RegistryError(`model folder name '${id}' must match ${ID}`);
      entries.set(id, loadModelEntry(id, dir));
    }
    return new ModelRegistry(entries);
  }

  /** A registry of given entries (tests, and generating the API document without models). */
  static of(entries: ModelEntry[]): ModelRegistry {
    return new ModelRegistry(new Map(entries.map((e) => [e.id, e])));
  }

  list(): ModelEntry[] {
    return [...this.entries.values()];
  }

  get(id: string): ModelEntry | undefined {
    return ID.test(id) ? this.entries.get(id) : undefined;
  }
}

/** A target given as an index or a label, resolved to an index. */
export function resolveTarget(entry: ModelEntry, target: string | number): number | undefined {
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  const index = entry.labels?.indexOf(target) ?? -1;
  return index >= 0 ? index : undefined;
}
