// Builds the methods' ModelContext for a model file: loads and probes it once, and turns the
// methods' graphs into ORT sessions on demand, one per graph key. All sessions of a context read
// the model's weights from one shared file (weight-store.ts); a SessionPool may evict idle
// sessions (rebuilt on their next run) and whole contexts under a memory limit.
//
// Precision. Every graph is built from the float32 model (float32.ts). Where a float16 model's
// sessions run on the CUDA provider (and cudaPrecision is 'model'), each graph's classifier part is
// turned back into float16 (onnx/float16.ts), its weights converted once per context; a session
// that falls back to the CPU is built from the float32 graph instead (ONNX Runtime's CPU provider
// runs float16 graphs only through casts around its many float32-only kernels: slow).
import { DEFAULT_BUDGET_BYTES, type ModelContext } from '../methods/context.js';
import { type GraphRunner, type Tensor } from '../methods/runner.js';
import { type TensorFacts } from '../onnx/shapes.js';
import { Float16Error, HalfWeights, computeInFloat16, withFloat16Rounding } from '../onnx/float16.js';
import { type Model, modelFromProto } from '../onnx/ir.js';
import { readModel } from '../onnx/proto.js';
import { DataType } from '../onnx/tensor.js';
import { type LoadedModel, prepareModel } from './gradient-model.js';
import { CudaUnavailableError, type Feeds, Session, type SessionOptions, cudaAvailable } from './ort.js';
import { type PoolEntry, SessionPool } from './session-pool.js';
import { EXTERNAL_MIN_BYTES, type PreparedGraph, WeightStore } from './weight-store.js';

export interface ContextOptions extends SessionOptions {
  inputShape?: number[];
  facts?: TensorFacts;
  input?: string;
  budgetBytes?: number;
  pixelRange?: ModelContext['pixelRange'];
  layout?: ModelContext['layout'];
  /** Bounds this context's sessions (and the context itself) together with others'; default: unbounded. */
  pool?: SessionPool;
  /** Name in the pool's logs. */
  label?: string;
  /** Folder for the shared weight file (default: the OS temp dir); removed on close. */
  weightsDir?: string;
  /** false: every session gets its own inline copy of the weights (the bench's comparison). Default true. */
  shareWeights?: boolean;
  /** Sessions on shared weights pre-pack them up to this many bytes (default PREPACK_MAX_BYTES). */
  prepackMaxBytes?: number;
  /** Called after the pool evicted (closed) this whole context: its owner must forget it. */
  onEvicted?: () => void;
  /**
   * Called for every session created: its graph key, the provider it got, whether it shares the
   * weights, the precision its classifier part computes in, and (float32 where float16 was planned) why.
   */
  onSession?: (info: SessionCreated) => void;
  /** A float16 model on the CUDA provider: 'model' (default) computes in float16, 'float32' in float32. */
  cudaPrecision?: CudaPrecision;
  /**
   * Float16 sessions on the CPU provider too, each float16 tensor rounded explicitly
   * (withFloat16Rounding in onnx/float16.ts: the CPU provider would compute them in float32): for
   * tests, which check the float16 graphs' numbers without a GPU. Slow, never served.
   */
  float16OnCpu?: boolean;
  /** The float16 backward pass's seed scale (onnx/float16.ts); tests only. */
  backwardScale?: number;
}

export type CudaPrecision = 'model' | 'float32';
export type Precision = 'float16' | 'float32';

export interface SessionCreated {
  key: string;
  provider: 'cpu' | 'cuda';
  shared: boolean;
  /** Whether it pre-packed its MatMul/Gemm weights (a private copy; PREPACK_MAX_BYTES). */
  prepacked: boolean;
  precision: Precision;
  /** Why a session of a context planned for float16 computes in float32. */
  reason?: string;
}

/**
 * What a context's sessions compute the classifier in: float16 only for a model stored in float16
 * whose sessions get the CUDA provider (unless cudaPrecision is 'float32'); float32 everywhere else.
 */
export function sessionPrecision(o: {
  provider: 'cpu' | 'cuda';
  storedAs: readonly number[];
  cudaPrecision?: CudaPrecision;
  float16OnCpu?: boolean;
}): Precision {
  if (!o.storedAs.includes(DataType.FLOAT16)) return 'float32';
  if (o.provider === 'cuda') return (o.cudaPrecision ?? 'model') === 'model' ? 'float16' : 'float32';
  return o.float16OnCpu ? 'float16' : 'float32';
}

/** The precision a context plans for: sessionPrecision with the provider this host gives. */
async function plannedPrecision(loaded: LoadedModel, options: ContextOptions): Promise<Precision> {
  const half = (provider: 'cpu' | 'cuda') => sessionPrecision({ provider, storedAs: loaded.convertedFrom, ...options }) === 'float16';
  if (options.executionProvider === 'cuda' && half('cuda') && (await cudaAvailable(options.deviceId ?? 0))) return 'float16';
  return half('cpu') ? 'float16' : 'float32';
}

/** What a session of the context holds, for tests and the bench. */
export interface SessionInfo {
  key: string;
  resident: boolean;
  /** Created from a graph file whose large weights live in the shared file. */
  shared: boolean;
  inlineBytes: number;
  sharedBytes: number;
  /** Times the session was (re)created. */
  builds: number;
  /** What its classifier part computes in. */
  precision: Precision;
}

export interface OwnedContext extends ModelContext {
  /** One entry per graph key. */
  sessionInfo(): SessionInfo[];
  /** Bytes in the shared weight file and the number of tensors in it. */
  weightFile(): { bytes: number; tensors: number };
  /** Weights converted to float16 so far (each once per context, whatever the number of sessions). */
  halfWeights(): number;
  close(): Promise<void>;
}

export async function openModelContext(path: string, options: ContextOptions = {}): Promise<OwnedContext> {
  const { inputShape, threads, facts, input } = options;
  // The model's large weights go to the shared file first, and out of JavaScript's heap; the
  // decoded file's own tensor list is dropped so that nothing keeps its buffer alive. The shape
  // probe then maps them too: an inline probe session left its freed copy in the allocator.
  const store = newStore(options);
  const model = store.offloadModel(modelFromProto(readModel(path)));
  const probeSession = async (probe: Model): Promise<Session> => {
    const prepared = store.prepare(probe);
    try {
      return await Session.create(prepared.source, { threads, prepack: !prepared.shared });
    } finally {
      store.discard(prepared.source);
    }
  };
  try {
    const loaded = await prepareModel({ ...model, proto: { ...model.proto, graph: undefined } }, { inputShape, threads, facts, input, probeSession });
    return contextFor(loaded, options, store, await plannedPrecision(loaded, options));
  } catch (err) {
    store.close();
    throw err;
  }
}

/** A context for a model already in memory (tests build tiny graphs this way); the caller keeps its weights. */
export async function contextForModel(model: Model, options: ContextOptions = {}): Promise<OwnedContext> {
  const loaded = await prepareModel(model, { inputShape: options.inputShape, threads: options.threads });
  return contextFor(loaded, options, newStore(options), await plannedPrecision(loaded, options));
}

function newStore(options: ContextOptions): WeightStore {
  return new WeightStore(options.weightsDir, options.shareWeights === false ? Infinity : undefined);
}

/** Bytes of the model's weights still held in JavaScript (those not in the shared file). */
function heldBytes(model: Model, store: WeightStore): number {
  let total = 0;
  for (const t of model.graph.initializers.values()) if (t.rawData !== undefined && store.tensorBytes(t) < EXTERNAL_MIN_BYTES) total += store.tensorBytes(t);
  return total;
}

/**
 * A session that maps the shared weights still pre-packs them (a private copy each, in the
 * kernels' own layout) when that copy is at most this large: ResNet-50's 8 MB classifier head
 * costs little and pre-packing saved 1–3 % of a gradient run, VGG-16's 500 MB would be a copy of
 * the weights per session again.
 */
export const PREPACK_MAX_BYTES = 64 * 1024 * 1024;

/** Ops whose constant second input ONNX Runtime pre-packs into a copy of its own. */
const PREPACKED = new Set(['MatMul', 'Gemm', 'FusedMatMul', 'FusedGemm']);
/** Ops whose filter (second input) the optimiser copies into its blocked layout. */
const FILTERED = new Set(['Conv', 'ConvTranspose']);

/** Bytes of the constant second inputs (weights, filters) of the graph's `ops` nodes. */
function weightBytes(model: Model, store: WeightStore, ops: ReadonlySet<string>): number {
  let total = 0;
  for (const node of model.graph.nodes) {
    if (!ops.has(node.opType)) continue;
    const weight = model.graph.initializers.get(node.inputs[1] ?? '');
    if (weight) total += store.tensorBytes(weight);
  }
  return total;
}

/** One graph key's session: created on first use, rebuilt after an eviction. */
class PooledSession implements GraphRunner, PoolEntry {
  bytes = 0;
  builds = 0;
  info: PreparedGraph | undefined;
  precision: Precision = 'float32';
  private session: Promise<Session> | undefined;
  private inFlight = 0;

  constructor(
    readonly label: string,
    readonly key: string,
    private readonly build: () => Model,
    private readonly owner: ContextState,
  ) {}

  get resident(): boolean {
    return this.session !== undefined;
  }

  busy(): boolean {
    return this.inFlight > 0;
  }

  /** The session, created (or recreated) when missing. */
  ready(): Promise<Session> {
    if (!this.session) {
      const session = this.create();
      this.session = session;
      // A failed build must not poison the handle: the next run tries again.
      session.catch(() => {
        if (this.session === session) this.session = undefined;
      });
    }
    return this.session;
  }

  async run(feeds: Record<string, Tensor>, fetches?: readonly string[]): Promise<Record<string, Tensor>> {
    this.inFlight++;
    try {
      const session = await this.ready();
      return await session.run(feeds as Feeds, fetches);
    } finally {
      this.inFlight--;
      this.owner.pool.touch(this);
      this.owner.pool.touch(this.owner.entry);
    }
  }

  async evict(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    if (session) await (await session.catch(() => undefined))?.release();
  }

  private async create(): Promise<Session> {
    const { owner } = this;
    this.inFlight++;
    try {
      const graph = this.build();
      if (owner.precision !== 'float16') return await this.open(graph, 'float32');
      const onCuda = owner.options.executionProvider === 'cuda';
      let half: Model;
      try {
        half = computeInFloat16(graph, { weights: owner.halfWeights, scale: owner.options.backwardScale }).model;
      } catch (err) {
        if (!(err instanceof Float16Error)) throw err;
        return await this.open(graph, 'float32', {}, err.message);
      }
      if (!onCuda) half = withFloat16Rounding(half);
      try {
        return await this.open(half, 'float16', onCuda ? { cpuFallback: false } : {});
      } catch (err) {
        if (err instanceof CudaUnavailableError) {
          // No CUDA after all: this context's sessions run the float32 graphs on the CPU from now on.
          owner.precision = 'float32';
          owner.options.onFallback?.(err.reason);
          return await this.open(graph, 'float32', { executionProvider: 'cpu' }, 'the CUDA provider is unavailable');
        }
        // A float16 graph the runtime refuses: the float32 one serves.
        return await this.open(graph, 'float32', {}, `the float16 graph did not load: ${(err as Error).message}`);
      }
    } finally {
      this.inFlight--;
    }
  }

  private async open(graph: Model, precision: Precision, extra: Partial<SessionOptions> = {}, reason?: string): Promise<Session> {
    const { owner } = this;
    const prepared = owner.store.prepare(graph);
    this.info = prepared;
    this.precision = precision;
    // A session on the shared file holds its own blocked-layout filter copies, and pre-packed
    // weights where they are small (PREPACK_MAX_BYTES).
    const filters = prepared.shared ? weightBytes(graph, owner.store, FILTERED) : 0;
    const packed = prepared.shared ? weightBytes(graph, owner.store, PREPACKED) : 0;
    const prepack = owner.options.prepack !== false && packed <= (owner.options.prepackMaxBytes ?? PREPACK_MAX_BYTES);
    this.bytes = prepared.inlineBytes + filters + (prepack ? packed : 0) + owner.budgetBytes;
    // The model's charge grows with derived tensors stored for this graph.
    owner.entry.bytes = owner.modelBytes + owner.store.bytes;
    await owner.pool.admit(owner.entry);
    await owner.pool.admit(this, [owner.entry]);
    try {
      const session = await Session.create(prepared.source, {
        ...owner.options,
        ...extra,
        prepack,
        onProvider: (provider) =>
          owner.options.onSession?.({
            key: this.key,
            provider,
            shared: prepared.shared,
            prepacked: prepack,
            precision,
            ...(reason !== undefined ? { reason } : {}),
          }),
      });
      this.builds++;
      return session;
    } catch (err) {
      owner.pool.remove(this);
      throw err;
    } finally {
      owner.store.discard(prepared.source);
    }
  }
}

interface ContextState {
  pool: SessionPool;
  store: WeightStore;
  entry: PoolEntry;
  modelBytes: number;
  budgetBytes: number;
  options: ContextOptions;
  /** What new sessions compute in (float16 until a CUDA session fails). */
  precision: Precision;
  halfWeights: HalfWeights;
}

function contextFor(loaded: LoadedModel, options: ContextOptions, store: WeightStore, precision: Precision): OwnedContext {
  const handles = new Map<string, Promise<PooledSession>>();
  const label = options.label ?? 'model';
  const modelBytes = heldBytes(loaded.model, store);
  let closed = false;

  const close = async (): Promise<void> => {
    closed = true;
    const all = await Promise.allSettled(handles.values());
    handles.clear();
    for (const h of all) if (h.status === 'fulfilled') state.pool.remove(h.value);
    state.pool.remove(state.entry);
    await Promise.all(all.map((h) => (h.status === 'fulfilled' ? h.value.evict() : undefined)));
    state.store.close();
  };

  const state: ContextState = {
    pool: options.pool ?? new SessionPool(0),
    store,
    modelBytes,
    budgetBytes: options.budgetBytes ?? DEFAULT_BUDGET_BYTES,
    options,
    precision,
    // Each float16 copy goes to the shared file as it is made: all sessions map it, none holds it.
    halfWeights: new HalfWeights((t) => store.offloadTensor(t)),
    entry: {
      label: `model:${label}`,
      bytes: modelBytes,
      busy: () => !closed && [...handlesSettled()].some((h) => h.busy()),
      evict: async () => {
        await close();
        options.onEvicted?.();
      },
    },
  };
  // Handles whose creation finished (a pending one belongs to the job that is admitting).
  const settled = new Map<string, PooledSession>();
  const handlesSettled = () => settled.values();

  const factory = (key: string, build: () => Model): Promise<GraphRunner> => {
    if (closed) return Promise.reject(new Error(`the context of ${label} was closed`));
    let handle = handles.get(key);
    if (!handle) {
      const h = new PooledSession(`${label}/${key}`, key, build, state);
      handle = h.ready().then(() => {
        settled.set(key, h);
        return h;
      });
      handles.set(key, handle);
      // A failed build must not poison the cache.
      handle.catch(() => handles.delete(key));
    }
    return handle;
  };
  return {
    ...loaded,
    get precision() {
      return state.precision;
    },
    sessions: factory,
    budgetBytes: state.budgetBytes,
    pixelRange: options.pixelRange,
    ...(options.layout ? { layout: options.layout } : {}),
    sessionInfo: () =>
      [...settled.values()].map((h) => ({
        key: h.key,
        resident: h.resident,
        shared: h.info?.shared ?? false,
        inlineBytes: h.info?.inlineBytes ?? 0,
        sharedBytes: h.info?.sharedBytes ?? 0,
        builds: h.builds,
        precision: h.precision,
      })),
    weightFile: () => ({ bytes: state.store.bytes, tensors: state.store.tensors }),
    halfWeights: () => state.halfWeights.converted,
    close,
  };
}
