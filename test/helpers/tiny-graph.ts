// Tiny ONNX graphs for rule tests: one op (or a few nodes) between input 'x' and output 'y', with
// constant operands as initializers, plus a seeded random source and the numbers the rule tests
// compare (dot products, cosine, relative error).
import { type CompileOptions, type CompileResult, compileGradient } from '../../src/gradgraph/compile.js';
import { type BackwardPolicy } from '../../src/gradgraph/policy.js';
import { type Attributes } from '../../src/onnx/attributes.js';
import { type Model, type Node, modelToProto } from '../../src/onnx/ir.js';
import { normaliseOpset } from '../../src/onnx/normalise-opset.js';
import { encodeModel, type TensorProto } from '../../src/onnx/proto.js';
import { type TensorFacts } from '../../src/onnx/shapes.js';
import { DataType, floatTensor } from '../../src/onnx/tensor.js';
import { type FloatTensor, type RawOutput, Session } from '../../src/runtime/ort.js';
import { probeShapes } from '../../src/runtime/shape-probe.js';

/** A constant operand: float32 values, int64 values (axes, pads, shapes…) or booleans. */
export type ConstInput =
  | { float: ArrayLike<number>; dims: readonly number[] }
  | { int64: readonly (number | bigint)[]; dims?: readonly number[] }
  | { bool: readonly boolean[]; dims: readonly number[] }
  | { int8: readonly number[]; dims: readonly number[] };

/** One input of the op: the model input 'x', an absent optional input (''), or a constant. */
export type OpInput = 'x' | '' | ConstInput;

export interface SingleOpSpec {
  /** Per-sample shape of x (the model input is ['N', ...x]). */
  x: readonly number[];
  /** The op's inputs in order; default ['x']. */
  inputs?: readonly OpInput[];
  attrs?: Attributes;
  opset: number;
  /** Number of op outputs (only the first is the graph output 'y'); default 1. */
  outputs?: number;
  /** The op's domain: '' (ONNX) or 'com.microsoft' (contrib ops). */
  domain?: string;
}

export function constTensor(name: string, c: ConstInput): TensorProto {
  if ('float' in c) return floatTensor(name, c.dims, c.float);
  if ('int64' in c) {
    // Through BigInt so that INT64_MAX (an exporter's "to the end") survives exactly.
    const data = BigInt64Array.from(c.int64.map((v) => BigInt(v)));
    return { name, dims: [...(c.dims ?? [c.int64.length])], dataType: DataType.INT64, rawData: new Uint8Array(data.buffer) };
  }
  if ('int8' in c) return { name, dims: [...c.dims], dataType: DataType.INT8, rawData: new Uint8Array(Int8Array.from(c.int8).buffer) };
  return { name, dims: [...c.dims], dataType: DataType.BOOL, rawData: Uint8Array.from(c.bool.map((v) => (v ? 1 : 0))) };
}

/** ONNX Runtime's contrib-op domain, and the version of it that its optimiser writes. */
export const MICROSOFT = { domain: 'com.microsoft', version: 1 };

export function modelProto(opset: number, domains: readonly string[] = []): Model['proto'] {
  const contrib = domains.includes(MICROSOFT.domain) ? [MICROSOFT] : [];
  return { irVersion: 8, opsetImport: [{ domain: '', version: opset }, ...contrib], producerName: 'test' };
}

/** A graph with input 'x' ['N', ...x], output `output` (default 'y') and the given nodes. */
export function graphModel(spec: {
  x: readonly number[];
  opset: number;
  nodes: (Omit<Node, 'domain' | 'name'> & { domain?: string })[];
  initializers?: Record<string, ConstInput>;
  output?: string;
}): Model {
  const domains = spec.nodes.map((n) => n.domain ?? '');
  const initializers = new Map<string, TensorProto>();
  for (const [name, c] of Object.entries(spec.initializers ?? {})) initializers.set(name, constTensor(name, c));
  return {
    opset: spec.opset,
    proto: modelProto(spec.opset, domains),
    graph: {
      name: 'tiny',
      nodes: spec.nodes.map((n, i) => ({ ...n, domain: n.domain ?? '', name: `n${i}_${n.opType}` })),
      inputs: [{ name: 'x', elemType: DataType.FLOAT, dims: ['N', ...spec.x] }],
      // Output shape left to the runtime: the probe finds it.
      outputs: [{ name: spec.output ?? 'y', elemType: DataType.FLOAT, dims: undefined }],
      initializers,
    },
  };
}

/** One op from 'x' (and constants) to 'y'. */
export function singleOp(opType: string, spec: SingleOpSpec): Model {
  const initializers: Record<string, ConstInput> = {};
  const inputs = (spec.inputs ?? ['x']).map((input, i) => {
    if (input === 'x' || input === '') return input;
    const name = `c${i}`;
    initializers[name] = input;
    return name;
  });
  const outputs = ['y', ...Array.from({ length: (spec.outputs ?? 1) - 1 }, (_, i) => `y_extra${i + 1}`)];
  return graphModel({ x: spec.x, opset: spec.opset, initializers, nodes: [{ opType, inputs, outputs, attrs: spec.attrs ?? {}, domain: spec.domain ?? '' }] });
}

/** mulberry32: a fixed, seedable uniform source on [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded standard-normal float32 values (Box–Muller over mulberry32). */
export function seededNormal(seed: number, length: number): Float32Array {
  const u = mulberry32(seed);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - u()));
    const t = 2 * Math.PI * u();
    out[i] = r * Math.cos(t);
    if (i + 1 < length) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

/** A seeded normal tensor scaled by `scale`, as graphModel's initializers take it. */
export function seededWeights(seed: number, dims: number[], scale: number): { float: number[]; dims: number[] } {
  return {
    float: Array.from(
      seededNormal(
        seed,
        dims.reduce((a, b) => a * b, 1),
      ),
      (v) => v * scale,
    ),
    dims,
  };
}

/** A seeded random permutation of 0..n−1. */
export function seededPermutation(seed: number, n: number): number[] {
  const u = mulberry32(seed);
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u() * (i + 1));
    [p[i], p[j]] = [p[j] as number, p[i] as number];
  }
  return p;
}

/** INT64_MAX, as exporters write an open slice end. */
export const INT64_MAX = 9223372036854775807n;

export const size = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** Float64 dot product. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`dot: lengths ${a.length} and ${b.length} differ`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

/** Σ|a_i·b_i|: the scale against which a float32 dot product's rounding is judged. */
export function absDot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs((a[i] as number) * (b[i] as number));
  return s;
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));
}

/** ‖actual − expected‖ / ‖expected‖. */
export function relErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff += ((actual[i] as number) - (expected[i] as number)) ** 2;
  return Math.sqrt(diff / dot(expected, expected));
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] as number));
  return m;
}

/** The forward model and its compiled gradient model, loaded once and run many times. */
export class GradHarness {
  private constructor(
    readonly model: Model,
    readonly facts: TensorFacts,
    readonly compiled: CompileResult,
    private readonly forwardSession: Session,
    private readonly gradientSession: Session,
  ) {}

  /**
   * `runAs` rewrites the forward nodes before they run (not before they are compiled): for contrib
   * ops that ONNX Runtime's CPU provider has no kernel for, replaced by standard equivalents.
   */
  static async create(
    model: Model,
    options: Omit<CompileOptions, 'facts'> & { policy?: BackwardPolicy; runAs?: (m: Model) => Model } = {},
  ): Promise<GradHarness> {
    const { runAs = (m: Model) => m, ...compileOptions } = options;
    // Old op forms are normalised before the compiler sees them, as the model loader does.
    model = normaliseOpset(model).model;
    const facts = await probeShapes(runAs(model), { threads: 1 });
    const compiled = compileGradient(model, { ...compileOptions, facts });
    const forward = await Session.create(encodeModel(modelToProto(runAs(model))), { threads: 1 });
    const gradient = await Session.create(encodeModel(modelToProto(runAs(compiled.model))), { threads: 1 });
    return new GradHarness(model, facts, compiled, forward, gradient);
  }

  /** The forward model's first output. */
  async forward(x: FloatTensor): Promise<FloatTensor> {
    const out = await this.forwardSession.run({ x });
    const y = out[this.model.graph.outputs[0]?.name ?? 'y'];
    if (!y) throw new Error('the forward model returned no output');
    return y;
  }

  /** Every output of the gradient model for input x, seed and extra feeds (injected derivatives). */
  async run(x: FloatTensor, seed: FloatTensor, extra: Record<string, FloatTensor> = {}): Promise<Record<string, FloatTensor>> {
    return this.gradientSession.run({ x, [this.compiled.seed]: seed, ...extra });
  }

  /** Every output as the runtime returned it (exposed one-hot derivatives are int64 indices). */
  async runRaw(x: FloatTensor, seed: FloatTensor): Promise<Record<string, RawOutput>> {
    return this.gradientSession.runRaw({ x, [this.compiled.seed]: seed });
  }

  /** ∂(Σ seed·y)/∂x. */
  async gradient(x: FloatTensor, seed: FloatTensor, extra: Record<string, FloatTensor> = {}): Promise<FloatTensor> {
    const name = this.compiled.gradient;
    if (!name) throw new Error('the compiled graph has no input gradient');
    const g = (await this.run(x, seed, extra))[name];
    if (!g) throw new Error(`the gradient model returned no ${name}`);
    return g;
  }

  async release(): Promise<void> {
    await this.forwardSession.release();
    await this.gradientSession.release();
  }
}

/**
 * Probes, compiles and runs both the forward model and the gradient model once: y = f(x) and
 * grad = ∂(Σ seed·y)/∂x, with `seed` given or made from y's dims.
 */
export async function gradientAndForward(
  model: Model,
  x: FloatTensor,
  seed: Float32Array | ((dims: number[]) => Float32Array),
  options: Omit<CompileOptions, 'facts'> = {},
): Promise<{ y: FloatTensor; grad: FloatTensor; seed: FloatTensor; compiled: CompileResult }> {
  const h = await GradHarness.create(model, options);
  try {
    const y = await h.forward(x);
    const s = { data: typeof seed === 'function' ? seed(y.dims) : seed, dims: y.dims };
    const grad = await h.gradient(x, s);
    return { y, grad, seed: s, compiled: h.compiled };
  } finally {
    await h.release();
  }
}
