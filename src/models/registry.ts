// The model registry: one folder per model under MODELS_DIR, each with manifest.json and an ONNX
// file. Manifests are validated when the folder is scanned; models are content-hashed (the
// compiled-graph cache key). Model ids are folder names: nothing from a request becomes a path.
// A folder that cannot serve (broken manifest, or a model the checker refuses) is kept aside with
// its coded reason: `get`/`list` never return it, `unavailable` explains it. A rescan (SIGHUP)
// swaps the contents in place, so every holder of the registry sees the new models.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { type Manifest, ManifestSchema } from './manifest.js';
import { type ModelFacts } from './model-facts.js';
import { type ModelProblem, problemOf } from './model-problem.js';

export interface ModelEntry {
  id: string;
  dir: string;
  onnxPath: string;
  manifest: Manifest;
  labels: string[] | undefined;
  /** sha256 of the ONNX file: compiled graphs are cached under it. */
  hash: string;
  bytes: number;
  /** Modification time of the ONNX file: a rescan re-hashes only files that changed. */
  mtimeMs?: number;
  /** How the model runs, once the model check has compiled it (the catalogue states it). */
  facts?: ModelFacts;
}

/** A model folder that cannot serve, and why (the entry when its manifest loaded). */
export interface UnavailableModel extends ModelProblem {
  id: string;
  entry?: ModelEntry;
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

/** The class names of a model folder's labels file, one a line (undefined when the manifest names none). */
export function readLabels(dir: string, manifest: Manifest): string[] | undefined {
  return manifest.labels
    ? readFileSync(inside(dir, manifest.labels), 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
    : undefined;
}

/** Reads one model folder. With `previous` (the same folder's last entry), an unchanged file is not re-hashed. */
export function loadModelEntry(id: string, dir: string, previous?: ModelEntry): ModelEntry {
  const manifest = loadManifest(dir);
  const onnxPath = inside(dir, manifest.file);
  if (!existsSync(onnxPath)) throw new RegistryError(`model ${id}: ${manifest.file} not found in ${dir}`);
  const labels = readLabels(dir, manifest);
  const stat = statSync(onnxPath);
  if (previous && previous.onnxPath === onnxPath && previous.bytes === stat.size && previous.mtimeMs === stat.mtimeMs) {
    return { id, dir, onnxPath, manifest, labels, hash: previous.hash, bytes: stat.size, mtimeMs: stat.mtimeMs };
  }
  const bytes = readFileSync(onnxPath);
  return { id, dir, onnxPath, manifest, labels, hash: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length, mtimeMs: stat.mtimeMs };
}

/** The model folders of a models directory (those with a manifest.json), sorted. */
function modelFolders(modelsDir: string): string[] {
  if (!existsSync(modelsDir)) throw new RegistryError(`models directory ${modelsDir} does not exist`);
  return readdirSync(modelsDir)
    .sort()
    .filter((id) => {
      const dir = join(modelsDir, id);
      return statSync(dir).isDirectory() && existsSync(join(dir, 'manifest.json'));
    });
}

export class ModelRegistry {
  private constructor(
    private entries: Map<string, ModelEntry>,
    private problems: Map<string, UnavailableModel> = new Map(),
  ) {}

  /** Scans a models directory strictly: a broken model folder throws a message naming it. */
  static load(modelsDir: string): ModelRegistry {
    const entries = new Map<string, ModelEntry>();
    for (const id of modelFolders(modelsDir)) {
      if (!ID.test(id)) throw new RegistryError(`model folder name '${id}' must match ${ID}`);
      entries.set(id, loadModelEntry(id, join(modelsDir, id)));
    }
    return new ModelRegistry(entries);
  }

  /**
   * Scans a models directory leniently, as a running service does: a broken folder becomes an
   * unavailable model with its reason. Entries of `previous` whose files did not change keep
   * their hash (no re-read).
   */
  static scan(modelsDir: string, previous?: ModelRegistry): ModelRegistry {
    const entries = new Map<string, ModelEntry>();
    const problems = new Map<string, UnavailableModel>();
    for (const id of modelFolders(modelsDir)) {
      // A folder name that is not an id can never be requested: skipped, as any other file is.
      if (!ID.test(id)) continue;
      const before = previous?.entries.get(id) ?? previous?.problems.get(id)?.entry;
      try {
        entries.set(id, loadModelEntry(id, join(modelsDir, id), before));
      } catch (err) {
        problems.set(id, { id, ...problemOf(err) });
      }
    }
    return new ModelRegistry(entries, problems);
  }

  /** A registry of given entries (tests, and generating the API document without models). */
  static of(entries: ModelEntry[]): ModelRegistry {
    return new ModelRegistry(new Map(entries.map((e) => [e.id, e])));
  }

  /** Models that can serve. */
  list(): ModelEntry[] {
    return [...this.entries.values()];
  }

  get(id: string): ModelEntry | undefined {
    return ID.test(id) ? this.entries.get(id) : undefined;
  }

  /** Model folders that cannot serve, with their reasons. */
  unavailable(): UnavailableModel[] {
    return [...this.problems.values()];
  }

  unavailableModel(id: string): UnavailableModel | undefined {
    return ID.test(id) ? this.problems.get(id) : undefined;
  }

  /** Moves the given models aside as unavailable (the checker's verdicts). */
  markUnavailable(found: ReadonlyMap<string, ModelProblem>): void {
    for (const [id, problem] of found) {
      const entry = this.entries.get(id);
      if (!entry) continue;
      this.entries.delete(id);
      this.problems.set(id, { id, entry, ...problem });
    }
  }

  /** Attaches the model check's facts to the entries that serve. */
  describe(found: ReadonlyMap<string, ModelFacts>): void {
    for (const [id, facts] of found) {
      const entry = this.entries.get(id);
      if (entry) this.entries.set(id, { ...entry, facts });
    }
  }

  /** Takes over another registry's contents (a rescan), keeping this object's identity. */
  replaceWith(next: ModelRegistry): void {
    this.entries = new Map(next.entries);
    this.problems = new Map(next.problems);
  }
}

/** A target given as an index or a label, resolved to an index. */
export function resolveTarget(entry: ModelEntry, target: string | number): number | undefined {
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  const index = entry.labels?.indexOf(target) ?? -1;
  return index >= 0 ? index : undefined;
}
