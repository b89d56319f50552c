// The one module that imports onnxruntime-node. Everything else talks to `Session`.
import ort from 'onnxruntime-node';
import { encodeModel } from '../onnx/proto.js';
import { DataType } from '../onnx/tensor.js';

export interface FloatTensor {
  data: Float32Array;
  dims: number[];
}

export type Feeds = Record<string, FloatTensor>;

export interface SessionOptions {
  /** Intra-op threads; default: ORT's choice (all cores). */
  threads?: number;
  executionProvider?: 'cpu' | 'cuda';
  deviceId?: number;
  /** Called when the CUDA provider cannot load and the session falls back to the CPU. */
  onFallback?: (reason: Error) => void;
  /**
   * false: a CUDA provider that cannot load throws CudaUnavailableError instead of falling back to
   * the CPU (the caller then builds a CPU session of its own, e.g. from a float32 graph). Default true.
   */
  cpuFallback?: boolean;
  /**
   * Intra-op worker threads spin between the kernels of one run instead of sleeping (default:
   * true). They stop spinning when the run ends either way, so an idle session never takes cores
   * from a running one. Turn it off when several runs share the cores (WORKER_CONCURRENCY > 1, or
   * several worker processes with ORT_THREADS > 1 on one host).
   */
  spin?: boolean;
  /** Record ONNX Runtime's profile to `<profilePrefix>_<date>.json` (tools/bench/profile.mjs). */
  profilePrefix?: string;
  /** Log nothing below fatal: for runs that are expected to fail (the fixed-batch check). */
  quiet?: boolean;
  /**
   * Pre-pack constant MatMul/Gemm weights into the kernels' own layout (default: true). A
   * pre-packed weight is a private copy per session; sessions that share their weights through a
   * mapped file (weight-store.ts) turn it off unless that copy is small (model-context.ts).
   */
  prepack?: boolean;
  /** Called once the session exists, with the execution provider it got ('cpu' or 'cuda'). */
  onProvider?: (provider: 'cpu' | 'cuda') => void;
}

export interface RawOutput {
  type: string;
  dims: number[];
  data: ArrayLike<number | bigint>;
}

/** A loaded ONNX model, ready to run. `run` blocks its thread: call it off the gateway loop. */
export class Session {
  private constructor(private readonly inner: ort.InferenceSession) {}

  /**
   * `model` as bytes, or as the path of an .onnx file: only a file's external data (weights beside
   * it) is mapped from disk instead of copied into the session.
   */
  static async create(model: Uint8Array | string, options: SessionOptions = {}): Promise<Session> {
    const base: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      // Warnings (e.g. unused initializers removed) are not the user's concern; errors still throw.
      logSeverityLevel: options.quiet ? 4 : 3,
      ...(options.threads ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {}),
      // Workers spin between kernels: waking a sleeping thread costs tens of microseconds per
      // kernel, which adds up over a gradient graph's hundreds of small ones (ResNet-50 at batch 1:
      // a depthwise mask Conv of 25k floats took 64 µs, its Mul 23 µs). They stop at the end of
      // each run (force_spinning_stop): without that, threads of the session that just ran spin on
      // while the next session runs (a method alternates sessions) and take its cores (measured on
      // 2 cores, ResNet-50 `gradient`: 218 ms, against 114 ms without spinning at all).
      extra: {
        session: {
          intra_op: { allow_spinning: options.spin === false ? '0' : '1' },
          force_spinning_stop: '1',
          ...(options.prepack === false ? { disable_prepacking: '1' } : {}),
        },
      },
      ...(options.profilePrefix ? { enableProfiling: true, profileFilePrefix: options.profilePrefix } : {}),
    };
    if (options.executionProvider === 'cuda') {
      try {
        const providers = [{ name: 'cuda', deviceId: options.deviceId ?? 0 }, 'cpu'];
        const session = new Session(await create(model, { ...base, executionProviders: providers }));
        options.onProvider?.('cuda');
        return session;
      } catch (err) {
        if (options.cpuFallback === false) throw new CudaUnavailableError(err as Error);
        // No CUDA build of onnxruntime-node, or no GPU: keep serving on the CPU.
        options.onFallback?.(err as Error);
      }
    }
    const session = new Session(await create(model, { ...base, executionProviders: ['cpu'] }));
    options.onProvider?.('cpu');
    return session;
  }

  get inputNames(): readonly string[] {
    return this.inner.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.inner.outputNames;
  }

  async runRaw(feeds: Feeds, fetches?: readonly string[]): Promise<Record<string, RawOutput>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor('float32', t.data, t.dims);
    const results = await this.inner.run(ortFeeds, fetches ? [...fetches] : this.inner.outputNames);
    const out: Record<string, RawOutput> = {};
    for (const [name, t] of Object.entries(results)) {
      out[name] = { type: t.type, dims: [...t.dims], data: t.data as ArrayLike<number | bigint> };
    }
    return out;
  }

  async run(feeds: Feeds, fetches?: readonly string[]): Promise<Record<string, FloatTensor>> {
    const raw = await this.runRaw(feeds, fetches);
    const out: Record<string, FloatTensor> = {};
    for (const [name, t] of Object.entries(raw)) {
      if (t.type !== 'float32') throw new Error(`output ${name} is ${t.type}, expected float32`);
      out[name] = { data: t.data as Float32Array, dims: t.dims };
    }
    return out;
  }

  /** Writes the profile (sessions created with `profilePrefix`). */
  endProfiling(): void {
    this.inner.endProfiling();
  }

  async release(): Promise<void> {
    await this.inner.release();
  }
}

/** The CUDA provider could not load (a session created with cpuFallback false). */
export class CudaUnavailableError extends Error {
  override name = 'CudaUnavailableError';
  constructor(readonly reason: Error) {
    super(`the CUDA execution provider is unavailable: ${reason.message}`);
  }
}

const cudaProbes = new Map<number, Promise<boolean>>();

/**
 * Whether a session on this host gets the CUDA provider of GPU `deviceId`: one tiny session per
 * process and device, created once (what the model's info states before any of its sessions exist).
 */
export function cudaAvailable(deviceId = 0): Promise<boolean> {
  let probe = cudaProbes.get(deviceId);
  if (!probe) {
    const info = { name: 'x', type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: 1 }] } } } };
    const identity = encodeModel({
      irVersion: 7,
      opsetImport: [{ domain: '', version: 13 }],
      graph: { name: 'cuda-probe', node: [{ opType: 'Identity', input: ['x'], output: ['y'] }], input: [info], output: [{ ...info, name: 'y' }] },
    });
    probe = create(identity, { logSeverityLevel: 4, executionProviders: [{ name: 'cuda', deviceId }] }).then(
      async (session) => (await session.release(), true),
      () => false,
    );
    cudaProbes.set(deviceId, probe);
  }
  return probe;
}

function create(model: Uint8Array | string, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
}

/** ONNX element type of an ORT tensor type name. */
export function elemTypeOf(type: string): number {
  switch (type) {
    case 'float32':
      return DataType.FLOAT;
    case 'int64':
      return DataType.INT64;
    case 'int32':
      return DataType.INT32;
    case 'bool':
      return DataType.BOOL;
    case 'float64':
      return DataType.DOUBLE;
    case 'uint8':
      return DataType.UINT8;
    default:
      return 0;
  }
}
