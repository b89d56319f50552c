// One copy of a model's weights for all of its sessions. Every method variant of a model (the
// fused gradient graph, Guided Backprop's, Grad-CAM's, SmoothDiff's statistics and backward
// graphs, the forward pass) is its own ONNX Runtime session, and a session given its weights
// inline copies them into memory it owns: seven methods on VGG-16 held seven copies of 553 MB.
// Here the large initializers are written once to `weights.bin` and every graph refers to them as
// ONNX external data. ONNX Runtime maps an external-data file into memory (read-only, shared pages)
// when it loads a model from a file path, so all sessions read the same physical pages; what a
// session still owns is what its optimiser derives (blocked-layout convolution filters) and its
// activations. Derived tensors the compiler emits (the flipped filters of transposed convolutions)
// are stored the same way, once per content, whichever variant needs them first (each variant's
// compile names them differently).
//
// A stored tensor's bytes leave JavaScript's heap too: its `rawData` becomes a getter that reads
// them back from the file (the compiler reads filters to flip them, a few times per model), so the
// process holds the weights once, in the mapped file, instead of once more in the decoded model.
//
// A session that pre-packs a shared weight (ort.ts `prepack`) holds a private copy of it again, so
// sessions pre-pack only when that copy is small (model-context.ts, PREPACK_MAX_BYTES).
import { closeSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Model, modelToProto } from '../onnx/ir.js';
import { type TensorProto, encodeModel } from '../onnx/proto.js';

/** Tensors at least this large live in the shared file; smaller ones stay inline (shapes, biases). */
export const EXTERNAL_MIN_BYTES = 64 * 1024;
/** Offsets are page-aligned: ONNX Runtime maps a tensor in place only at such offsets. */
const ALIGN = 4096;
const FILE = 'weights.bin';
const EXTERNAL = 1; // TensorProto.DataLocation.EXTERNAL

export interface PreparedGraph {
  /** What to create the session from: the graph file (weights shared), or bytes (none to share). */
  source: string | Uint8Array;
  shared: boolean;
  /** Initializer bytes inside the graph itself (copied into the session). */
  inlineBytes: number;
  /** Initializer bytes the graph reads from the shared file. */
  sharedBytes: number;
}

interface Stored {
  offset: number;
  length: number;
}

export class WeightStore {
  private dir: string | undefined;
  private fd: number | undefined;
  private size = 0;
  private graphs = 0;
  private offloading = false;
  /** Stored tensors by a key of their content (length and sampled bytes); equal keys are compared in full. */
  private readonly stored = new Map<string, Stored[]>();
  /** Tensors whose bytes now live in the file (their rawData reads them back). */
  private readonly located = new WeakMap<TensorProto, Stored>();

  /**
   * `parent`: where the store's private folder goes (default: the OS temp dir). `minBytes`: the
   * smallest tensor stored (Infinity: none, every graph keeps its weights inline).
   */
  constructor(
    private readonly parent: string = tmpdir(),
    private minBytes: number = EXTERNAL_MIN_BYTES,
  ) {}

  /** Bytes in the shared file: what the model's sessions map, once. */
  get bytes(): number {
    return this.size;
  }

  /** Number of distinct tensors stored. */
  get tensors(): number {
    let n = 0;
    for (const list of this.stored.values()) n += list.length;
    return n;
  }

  /**
   * The model with every large raw-data initializer replaced by a reference into the shared file
   * (stored on first sight). The returned model shares everything else with `model`.
   */
  externalize(model: Model): Model {
    let changed = false;
    const initializers = new Map<string, TensorProto>();
    for (const [name, t] of model.graph.initializers) {
      let entry = this.located.get(t);
      if (!entry) {
        const raw = t.rawData;
        if (!raw || raw.byteLength < this.minBytes || t.dataLocation === EXTERNAL) {
          initializers.set(name, t);
          continue;
        }
        entry = this.store(raw);
        if (this.offloading) this.offload(t, entry);
      }
      initializers.set(name, {
        name: t.name,
        dims: t.dims,
        dataType: t.dataType,
        dataLocation: EXTERNAL,
        externalData: [
          { key: 'location', value: FILE },
          { key: 'offset', value: String(entry.offset) },
          { key: 'length', value: String(entry.length) },
        ],
      });
      changed = true;
    }
    return changed ? { ...model, graph: { ...model.graph, initializers } } : model;
  }

  /**
   * Stores the model's large weights now and turns their rawData into reads from the file (see the
   * top of this file). Only for a model this store's owner alone holds: once the store is closed,
   * those tensors cannot be read any more.
   */
  offloadModel(model: Model): Model {
    this.offloading = true;
    try {
      this.externalize(model);
    } catch (err) {
      this.unwritable(err);
    } finally {
      this.offloading = false;
    }
    // Decoded bytes are views into the file's buffer: one small tensor left as a view would keep
    // the whole file alive. They get buffers of their own.
    const own = (t: TensorProto | null | undefined) => {
      if (t && !this.located.has(t) && t.rawData) t.rawData = Uint8Array.prototype.slice.call(t.rawData);
    };
    for (const t of model.graph.initializers.values()) own(t);
    for (const node of model.graph.nodes) for (const a of Object.values(node.attrs)) own(a.t);
    return model;
  }

  /**
   * Stores one tensor the store's owner alone holds (a derived copy, such as a weight's float16
   * copy) and turns its rawData into reads from the file, as offloadModel does for a model's own.
   */
  offloadTensor(t: TensorProto): void {
    const raw = t.rawData;
    if (!raw || raw.byteLength < this.minBytes || this.located.has(t) || t.dataLocation === EXTERNAL) return;
    try {
      this.offload(t, this.store(raw));
    } catch (err) {
      this.unwritable(err);
    }
  }

  /** Why the store could not write (then every graph keeps its weights inline), if it could not. */
  failure: Error | undefined;

  private unwritable(err: unknown): void {
    // A read-only cache folder costs memory, not service: sessions get their weights inline.
    this.failure = err as Error;
    this.minBytes = Infinity;
  }

  /**
   * Writes `model` (its large weights externalized) as a file in the store's folder and returns
   * its path, or the model's bytes when it has no large weights (nothing to share). Remove the file
   * with `discard` once the session exists.
   */
  prepare(model: Model): PreparedGraph {
    let external: Model;
    try {
      external = this.externalize(model);
    } catch (err) {
      this.unwritable(err);
      external = model;
    }
    let inlineBytes = 0;
    let sharedBytes = 0;
    for (const t of external.graph.initializers.values()) {
      if (t.dataLocation === EXTERNAL) sharedBytes += Number(t.externalData?.find((e) => e.key === 'length')?.value ?? 0);
      else inlineBytes += t.rawData?.byteLength ?? 0;
    }
    const bytes = encodeModel(modelToProto(external));
    if (external === model) return { source: bytes, shared: false, inlineBytes, sharedBytes };
    const path = join(this.folder(), `graph-${this.graphs++}.onnx`);
    writeFileSync(path, bytes);
    return { source: path, shared: true, inlineBytes, sharedBytes };
  }

  /** Bytes of a tensor's data, without reading back a stored one. */
  tensorBytes(t: TensorProto): number {
    return this.located.get(t)?.length ?? t.rawData?.byteLength ?? 0;
  }

  discard(source: string | Uint8Array): void {
    if (typeof source === 'string') rmSync(source, { force: true });
  }

  /** Deletes the shared file (sessions that mapped it keep their pages until released). */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
    this.stored.clear();
    this.size = 0;
  }

  private folder(): string {
    if (!this.dir) {
      mkdirSync(this.parent, { recursive: true });
      this.dir = mkdtempSync(join(this.parent, 'weights-'));
    }
    return this.dir;
  }

  /** The tensor's rawData now reads its bytes back from the file; its own copy can be collected. */
  private offload(t: TensorProto, entry: Stored): void {
    this.located.set(t, entry);
    Object.defineProperty(t, 'rawData', { get: () => this.read(entry), enumerable: true, configurable: true });
  }

  private read(entry: Stored): Buffer {
    if (this.fd === undefined) throw new Error('the weight store was closed');
    const out = Buffer.allocUnsafe(entry.length);
    readSync(this.fd, out, 0, entry.length, entry.offset);
    return out;
  }

  private store(bytes: Uint8Array): Stored {
    const key = contentKey(bytes);
    const list = this.stored.get(key) ?? [];
    const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const same = list.find((s) => s.length === bytes.byteLength && this.read(s).equals(view));
    if (same) return same;
    if (this.fd === undefined) {
      const path = join(this.folder(), FILE);
      this.fd = openSync(path, 'w+');
      // The file stays open and is appended to; graphs written later can refer to new tensors.
      unlinkOnExit(path);
    }
    const offset = Math.ceil(this.size / ALIGN) * ALIGN;
    writeSync(this.fd, bytes, 0, bytes.byteLength, offset);
    this.size = offset + bytes.byteLength;
    const entry = { offset, length: bytes.byteLength };
    list.push(entry);
    this.stored.set(key, list);
    return entry;
  }
}

/** Length and an FNV-1a hash of at most 4096 evenly spaced bytes: cheap, and equal for equal tensors. */
function contentKey(bytes: Uint8Array): string {
  const step = Math.max(1, Math.floor(bytes.byteLength / 4096));
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.byteLength; i += step) h = Math.imul(h ^ (bytes[i] as number), 0x01000193) >>> 0;
  return `${bytes.byteLength}:${h.toString(16)}`;
}

/** Weight files of stores never closed (a crashed test, an aborted CLI run) go with the process. */
const pending = new Set<string>();
let hooked = false;
function unlinkOnExit(path: string): void {
  pending.add(path);
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const p of pending) {
      try {
        unlinkSync(p);
      } catch {
        // Already gone.
      }
    }
  });
}
