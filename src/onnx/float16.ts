// Float16 models in their own precision. Loading makes every model compute in float32 (float32.ts);
// where the CUDA provider runs a float16 model's sessions, this pass turns a method graph built from
// that float32 model back into one whose classifier part — the forward pass and the compiled
// backward pass — computes in float16, while the method's own nodes (noise, path points, seed
// choice, products with the input, sums Σg and Σg² over copies, statistics) stay float32, and the
// graph's inputs and outputs keep the float32 the service feeds and reads.
//
// The part is found by dataflow. A graph built around a classifier carries `boundary` (ir.ts):
// the compiled gradient graph's inputs (the explained input, the seed, injected derivatives, lifted
// weights) and outputs (logits, input and exposed gradients, exposed activations and derivatives).
// The part is every node on a path from those inputs or the weights to those outputs: the nodes
// met walking back from the outputs, stopping at the inputs. A method's nodes either produce
// the part's inputs or read its outputs, so they are never met. Casts go at every edge that
// crosses the part's border; float initializers the part reads become float16 (converted once
// per model context, see HalfWeights).
//
// Loss scaling. A float16 backward pass underflows: input-gradient cotangents of ImageNet
// classifiers are 1e-4..1e-7, below float16's smallest normal number (6.1e-5; subnormals keep
// fewer bits, and under 6e-8 nothing). The seed is multiplied by S (a power of two, exact) before
// it enters the part, and every backward tensor leaving it (a descendant of the seed: input and
// exposed gradients) is divided by S in float32 (exact again). The backward pass is linear in its
// seed (Guided Backprop's masks [g > 0] do not change under a positive scale), so the result is
// S·g rounded to float16, divided by S: exact up to float16 rounding while S·g stays in range.
// Injected derivatives (SmoothDiff's averaged local Jacobians) are factors of the backward pass,
// not cotangents: they enter unscaled, and the scaled cotangent carries S through them.
// S = 2^10: a gradient of 1e-7 becomes 1.0e-4, a normal float16 number with all 11 bits, and only
// a cotangent above 64 (65504 / 2^10) could overflow — a logit moving by more than 64 per unit
// change of one activation, which float16 classifiers with logits of order 10 do not have.
import { type Attributes, getString } from './attributes.js';
import { type Graph, type Model, type Node, type ValueInfo, producers, rewriteTypes } from './ir.js';
import { onnx, type TensorProto } from './proto.js';
import { DataType, floatTensor, floatValues, tensorDims, toNumber } from './tensor.js';

/** The seed's scale in the float16 backward pass (see the top of this file). */
export const BACKWARD_SCALE = 1024;

/** Ops the pass does not put in float16: the part then stays float32 (quantised and control-flow models). */
const FLOAT32_ONLY: ReadonlySet<string> = new Set(['QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear', 'If', 'Loop', 'Scan']);
/** Operand slots ONNX types as float32 whatever the op's T (Resize's and Upsample's scales). */
const FLOAT32_SLOTS: Record<string, readonly number[]> = { Resize: [2], Upsample: [1] };

/**
 * Nodes of the part that compute in float32: scatters that add up (the MaxPool rule's), which the
 * CPU provider has no float16 kernel for, and whose sums of cotangents lose less in float32. Their
 * float operands are cast to float32 before them and their float results back to float16 after.
 */
function float32Island(n: Node): { inputs: number[]; outputs: number[] } | undefined {
  if ((n.opType === 'ScatterElements' || n.opType === 'ScatterND') && getString(n.attrs, 'reduction', 'none') !== 'none')
    return { inputs: [0, 2], outputs: [0] };
  return undefined;
}
const float32Slots = (n: Node): readonly number[] => float32Island(n)?.inputs ?? FLOAT32_SLOTS[n.opType] ?? [];

export class Float16Error extends Error {
  override name = 'Float16Error';
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** A number → IEEE 754 binary16 bits, rounded to nearest even (via float32, as a Cast would). */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let h = mantissa >> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mantissa >> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa rounds up into the exponent (and to infinity past 65504).
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** binary16 bits → number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** A float32 tensor as float16 (raw data); other tensors unchanged. */
export function halfTensor(t: TensorProto): TensorProto {
  if (t.dataType !== DataType.FLOAT) return t;
  const values = floatValues(t);
  const bits = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) bits[i] = floatToHalf(values[i] as number);
  return {
    name: t.name ?? '',
    dims: tensorDims(t),
    dataType: DataType.FLOAT16,
    rawData: new Uint8Array(bits.buffer),
    ...(t.docString ? { docString: t.docString } : {}),
  };
}

/**
 * float16 copies of a model's float32 initializers, made once: every float16 session of a model
 * context reads the same tensor objects, which the weight store (runtime/weight-store.ts) keeps
 * once in the shared file. `onConverted` sees each new copy (the context offloads it there).
 */
export class HalfWeights {
  private readonly copies = new WeakMap<TensorProto, Map<string, TensorProto>>();
  /** Tensors converted so far (each once). */
  converted = 0;

  constructor(private readonly onConverted: (t: TensorProto) => void = () => {}) {}

  /** The float16 copy of `t`, named `name` (a second name shares the first copy's bytes). */
  get(t: TensorProto, name = t.name ?? ''): TensorProto {
    let byName = this.copies.get(t);
    if (!byName) this.copies.set(t, (byName = new Map()));
    let copy = byName.get(name);
    if (!copy) {
      const first = byName.values().next().value as TensorProto | undefined;
      if (first) copy = { name, dims: first.dims, dataType: first.dataType, rawData: first.rawData };
      else {
        copy = { ...halfTensor(t), name };
        this.converted++;
      }
      this.onConverted(copy);
      byName.set(name, copy);
    }
    return copy;
  }
}

/** Attributes of a node of the float16 part: float32 element types and float tensors become float16. */
function halfAttrs(node: Node): Attributes {
  const out: Attributes = {};
  for (const [name, a] of Object.entries(node.attrs)) {
    if ((name === 'to' || name === 'dtype') && toNumber(a.i) === DataType.FLOAT) out[name] = { ...a, i: DataType.FLOAT16 };
    else if (a.t && a.t.dataType === DataType.FLOAT) out[name] = { ...a, t: halfTensor(a.t) };
    else out[name] = a;
  }
  if (node.opType === 'Constant') {
    // value_float(s) make a float32 constant: as a float16 tensor instead.
    const scalar = out['value_float'];
    const list = out['value_floats'];
    if (scalar || list) {
      delete out['value_float'];
      delete out['value_floats'];
      const values = scalar ? [scalar.f ?? 0] : (list?.floats ?? []);
      const t = floatTensor('', scalar ? [] : [values.length], values);
      out['value'] = { type: onnx.AttributeProto.AttributeType.TENSOR, t: halfTensor(t) };
    }
  }
  // Without a value ConstantOfShape makes float32 zeros.
  if (node.opType === 'ConstantOfShape' && !out['value']) {
    out['value'] = { type: onnx.AttributeProto.AttributeType.TENSOR, t: halfTensor(floatTensor('', [1], [0])) };
  }
  return out;
}

export interface Float16Options {
  /** The weights' float16 copies (one cache per model context); default: a cache of this call's own. */
  weights?: HalfWeights;
  /** Seed scale S, a power of two; default BACKWARD_SCALE. 1: no loss scaling (tests show what it loses). */
  scale?: number;
}

export interface Float16Result {
  model: Model;
  /** Nodes of the float16 part. */
  nodes: number;
  /** Tensors entering (cast to float16) and leaving (cast to float32) the part. */
  entries: string[];
  exits: string[];
  /** Exits that are backward tensors, divided by the scale. */
  scaled: string[];
}

/** The nodes of the classifier part: met walking back from the boundary's outputs, stopping at its inputs. */
function partNodes(graph: Graph, boundary: NonNullable<Model['boundary']>): Set<Node> {
  const producedBy = producers(graph);
  const stopAt = new Set(boundary.inputs.map((v) => v.name));
  const part = new Set<Node>();
  const seen = new Set<string>();
  const stack = boundary.outputs.map((v) => v.name).filter((name) => producedBy.has(name));
  while (stack.length > 0) {
    const tensor = stack.pop() as string;
    if (seen.has(tensor) || stopAt.has(tensor)) continue;
    seen.add(tensor);
    const node = producedBy.get(tensor);
    if (!node || part.has(node)) continue;
    part.add(node);
    for (const input of node.inputs) if (input) stack.push(input);
  }
  return part;
}

/**
 * The method graph with its classifier part in float16 (see the top of this file). Throws
 * Float16Error where the graph has no boundary or its part cannot compute in float16; the caller
 * then runs the float32 graph.
 */
export function computeInFloat16(model: Model, options: Float16Options = {}): Float16Result {
  const boundary = model.boundary;
  if (!boundary) throw new Float16Error('the graph does not say which part of it is the classifier');
  const weights = options.weights ?? new HalfWeights();
  const scale = options.scale ?? BACKWARD_SCALE;
  if (!(scale > 0) || Math.log2(scale) % 1 !== 0) throw new RangeError(`the backward scale must be a power of two, got ${scale}`);
  const g = model.graph;
  const part = partNodes(g, boundary);
  if (part.size === 0) throw new Float16Error('the graph has none of its classifier part');
  for (const n of part) {
    if (FLOAT32_ONLY.has(n.opType)) throw new Float16Error(`${n.opType} (node ${n.name}) stays float32`);
    if (Object.values(n.attrs).some((a) => a.g || (a.graphs?.length ?? 0) > 0)) throw new Float16Error(`${n.opType} (node ${n.name}) has a subgraph`);
  }
  const ordered = g.nodes.filter((n) => part.has(n));
  const producedInPart = new Set(ordered.flatMap((n) => n.outputs.filter(Boolean)));

  // Declared element types: the boundary, the graph's inputs and outputs, valueInfo, initializers.
  const declared = new Map<string, number>();
  for (const v of [...(g.valueInfo ?? []), ...g.inputs, ...g.outputs, ...boundary.inputs, ...boundary.outputs])
    if (v.elemType) declared.set(v.name, v.elemType);
  const constantNode = new Map<string, Node>();
  for (const n of g.nodes) if (n.opType === 'Constant' && n.outputs[0]) constantNode.set(n.outputs[0], n);
  const typeOf = (tensor: string): number | undefined => {
    const init = g.initializers.get(tensor);
    if (init) return init.dataType ?? undefined;
    const c = constantNode.get(tensor);
    if (c) return c.attrs['value']?.t?.dataType ?? (c.attrs['value_float'] || c.attrs['value_floats'] ? DataType.FLOAT : DataType.INT64);
    return declared.get(tensor);
  };

  // Backward tensors: the seed's descendants inside the part.
  const backward = new Set<string>(boundary.seed ? [boundary.seed] : []);
  for (const n of ordered) if (n.inputs.some((i) => backward.has(i))) for (const o of n.outputs) if (o) backward.add(o);

  // Exits: the part's float tensors read outside it (by a method node, or as graph outputs).
  const readOutside = new Set<string>(g.outputs.map((v) => v.name));
  for (const n of g.nodes) if (!part.has(n)) for (const i of n.inputs) if (i) readOutside.add(i);
  // Initializers also read in float32 inside the part keep their float32 self beside the copy.
  const float32Reads = new Set<string>();
  for (const n of ordered) for (const slot of float32Slots(n)) if (n.inputs[slot]) float32Reads.add(n.inputs[slot] as string);
  const exits: string[] = [];
  for (const t of producedInPart) {
    if (!readOutside.has(t)) continue;
    const type = typeOf(t);
    if (type === undefined) throw new Float16Error(`the element type of ${t}, read outside the classifier part, is not declared`);
    if (type === DataType.FLOAT) exits.push(t);
  }
  const halfName = (t: string) => `${t}/float16`;
  const exitSet = new Set(exits);

  // What a node of the part reads in each slot.
  const entries = new Map<string, string>();
  const sharedInits = new Map<string, TensorProto>();
  const initializers = new Map(g.initializers);
  // Casts to float32 before the nodes that read in float32, and back after the islands.
  const before = new Map<Node, Node[]>();
  const afterIsland = new Map<Node, Node[]>();
  const asFloat32 = new Map<string, string>();
  const inputFor = (n: Node, slot: number): string => {
    const t = n.inputs[slot] ?? '';
    if (!t) return t;
    if (float32Slots(n).includes(slot)) {
      if (g.initializers.has(t)) return t;
      let f = asFloat32.get(t);
      if (!f) {
        f = `${t}/as-float32`;
        asFloat32.set(t, f);
        before.set(n, [...(before.get(n) ?? []), cast(inPart(t), f, DataType.FLOAT)]);
      }
      return f;
    }
    return inPart(t);
  };
  /** The name a tensor has inside the part (float16 where it is a float). */
  const inPart = (t: string): string => {
    if (producedInPart.has(t)) return exitSet.has(t) ? halfName(t) : t;
    const init = g.initializers.get(t);
    if (init) {
      if (init.dataType !== DataType.FLOAT) return t;
      // Read only by the part: its float16 copy under the same name; else beside the float32 one.
      if (!readOutside.has(t) && !float32Reads.has(t)) {
        initializers.set(t, weights.get(init));
        return t;
      }
      sharedInits.set(halfName(t), weights.get(init, halfName(t)));
      return halfName(t);
    }
    const type = typeOf(t);
    if (type === undefined) throw new Float16Error(`the element type of ${t}, read by the classifier part, is not declared`);
    if (type !== DataType.FLOAT) return t;
    entries.set(t, halfName(t));
    return halfName(t);
  };

  const cast = (from: string, to: string, type: number): Node => ({
    name: `${to}/cast`,
    opType: 'Cast',
    domain: '',
    inputs: [from],
    outputs: [to],
    attrs: { to: { type: onnx.AttributeProto.AttributeType.INT, i: type } },
  });
  const partRewritten = new Map<Node, Node>();
  for (const n of ordered) {
    const island = float32Island(n);
    const outputs = n.outputs.map((o, slot) => {
      const name = exitSet.has(o) ? halfName(o) : o;
      if (!o || !island?.outputs.includes(slot)) return name;
      afterIsland.set(n, [...(afterIsland.get(n) ?? []), cast(`${o}/island`, name, DataType.FLOAT16)]);
      return `${o}/island`;
    });
    partRewritten.set(n, { ...n, inputs: n.inputs.map((_, slot) => inputFor(n, slot)), outputs, attrs: island ? n.attrs : halfAttrs(n) });
  }
  for (const [name, t] of sharedInits) initializers.set(name, t);
  const scalarInit = (name: string, value: number) => initializers.set(name, floatTensor(name, [], [value]));
  // The Casts (and the seed's scaling) of each entry, placed where its tensor exists.
  const enteringAt = new Map<string, Node[]>();
  const scaled: string[] = [];
  for (const [t, half] of entries) {
    const at = g.inputs.some((v) => v.name === t) ? '' : t;
    const casts: Node[] = [];
    if (t === boundary.seed && scale !== 1) {
      const s = `${t}/scale`;
      scalarInit(s, scale);
      casts.push({ name: `${t}/scaled`, opType: 'Mul', domain: '', inputs: [t, s], outputs: [`${t}/scaled`], attrs: {} });
      casts.push(cast(`${t}/scaled`, half, DataType.FLOAT16));
    } else casts.push(cast(t, half, DataType.FLOAT16));
    enteringAt.set(at, [...(enteringAt.get(at) ?? []), ...casts]);
  }
  const leaving = new Map<string, Node[]>();
  for (const t of exits) {
    if (backward.has(t) && scale !== 1) {
      const unscale = `${t}/unscale`;
      scalarInit(unscale, 1 / scale);
      leaving.set(t, [
        cast(halfName(t), `${t}/float32`, DataType.FLOAT),
        { name: `${t}/unscaled`, opType: 'Mul', domain: '', inputs: [`${t}/float32`, unscale], outputs: [t], attrs: {} },
      ]);
      scaled.push(t);
    } else leaving.set(t, [cast(halfName(t), t, DataType.FLOAT)]);
  }

  // Node order: entries where their tensor exists (graph inputs: first), each exit right after
  // the node producing it, so the graph stays topologically sorted.
  const nodes: Node[] = [];
  nodes.push(...(enteringAt.get('') ?? []));
  for (const n of g.nodes) {
    nodes.push(...(before.get(n) ?? []), partRewritten.get(n) ?? n, ...(afterIsland.get(n) ?? []));
    for (const o of n.outputs) {
      if (part.has(n)) nodes.push(...(leaving.get(o) ?? []));
      else nodes.push(...(enteringAt.get(o) ?? []));
    }
  }

  // Declared types: the part's own tensors are float16 now; exits and entries get a float16 twin.
  const valueInfo: ValueInfo[] = [];
  const dimsOf = new Map<string, ValueInfo['dims']>();
  for (const v of [...(g.valueInfo ?? []), ...g.inputs, ...g.outputs, ...boundary.inputs, ...boundary.outputs])
    if (v.dims && !dimsOf.has(v.name)) dimsOf.set(v.name, v.dims);
  for (const v of g.valueInfo ?? []) {
    if (producedInPart.has(v.name) && !exitSet.has(v.name) && v.elemType === DataType.FLOAT) valueInfo.push({ ...v, elemType: DataType.FLOAT16 });
    else valueInfo.push(v);
  }
  for (const t of [...entries.keys(), ...exits]) {
    const dims = dimsOf.get(t);
    if (dims) valueInfo.push({ name: halfName(t), elemType: DataType.FLOAT16, dims });
  }
  // A graph output the part produces keeps float32 (it is now the exit's Cast).
  return {
    model: { ...model, graph: { ...g, nodes, initializers, valueInfo } },
    nodes: ordered.length,
    entries: [...entries.keys()],
    exits,
    scaled,
  };
}

// Ops whose outputs are never float; Cast, Constant and ConstantOfShape say their type; most other
// ops give their first operand's type (OneHot its values', Where its branches').
const NOT_FLOAT: ReadonlySet<string> = new Set([
  'Shape',
  'Size',
  'ArgMax',
  'ArgMin',
  'NonZero',
  'Greater',
  'Less',
  'Equal',
  'GreaterOrEqual',
  'LessOrEqual',
  'And',
  'Or',
  'Not',
  'Xor',
  'IsNaN',
  'IsInf',
]);
const TYPE_FROM: Record<string, number> = { OneHot: 2, Where: 1 };

/**
 * The float16 graph with every float16 tensor its nodes make rounded to float16 explicitly, in
 * float32 ops: for checking a float16 graph's numbers on a CPU. ONNX Runtime's CPU provider has
 * float32 kernels for most ops and runs a float16 graph by inserting casts around them, and then
 * removes the cast pairs that meet (its own and the graph's), so that a float16 graph computes in
 * float32 there. Here each float16 tensor t is made as Cast(round16(Cast(t, float32)), float16):
 * the casts may go, the rounding stays — (c·8193) − ((c·8193) − c) keeps 11 significant bits,
 * (c + 0.75) − 0.75 the multiples of 2^-24 (subnormals), and ±∞ from 65520 on. What it does not
 * emulate is rounding inside a kernel (a float16 GEMM's accumulation, which CUDA does in float32).
 */
export function withFloat16Rounding(model: Model): Model {
  const g = model.graph;
  const types = new Map<string, number>();
  for (const v of [...g.inputs, ...(g.valueInfo ?? [])]) if (v.elemType) types.set(v.name, v.elemType);
  for (const [name, t] of g.initializers) types.set(name, t.dataType ?? 0);
  const nodes: Node[] = [];
  const extra = new Map<string, TensorProto>();
  const constant = (name: string, value: number) => {
    if (!extra.has(name)) extra.set(name, floatTensor(name, [], [value]));
    return name;
  };
  let k = 0;
  for (const n of g.nodes) {
    const outType = (i: number): number | undefined => {
      if (n.opType === 'Cast') return toNumber(n.attrs['to']?.i);
      if (n.opType === 'Constant') return n.attrs['value']?.t?.dataType ?? undefined;
      if (n.opType === 'ConstantOfShape') return n.attrs['value']?.t?.dataType ?? DataType.FLOAT;
      if (NOT_FLOAT.has(n.opType) || (i > 0 && (n.opType === 'MaxPool' || n.opType === 'TopK'))) return undefined;
      return types.get(n.inputs[TYPE_FROM[n.opType] ?? 0] ?? '');
    };
    const rounded: Node[] = [];
    const outputs = n.outputs.map((o, i) => {
      const type = o ? outType(i) : undefined;
      if (type !== undefined) types.set(o, type);
      if (type !== DataType.FLOAT16) return o;
      const p = `round16/${k++}`;
      const op = (opType: string, inputs: string[], out: string, attrs: Attributes = {}): string => {
        rounded.push({ name: `${p}/${out}`, opType, domain: '', inputs, outputs: [`${p}/${out}`], attrs });
        return `${p}/${out}`;
      };
      const to = (i: number) => ({ to: { type: onnx.AttributeProto.AttributeType.INT, i } });
      const c = op('Cast', [`${p}/raw`], 'c', to(DataType.FLOAT));
      const t = op('Mul', [c, constant('round16/8193', 8193)], 't');
      const hi = op('Sub', [t, op('Sub', [t, c], 'd')], 'hi');
      const sub = op('Sub', [op('Add', [c, constant('round16/0.75', 0.75)], 'a'), 'round16/0.75'], 'sub');
      const abs = op('Abs', [c], 'abs');
      const finite = op('Where', [op('Less', [abs, constant('round16/tiny', 2 ** -14)], 'small'), sub, hi], 'finite');
      const big = op('Mul', [c, constant('round16/inf', Infinity)], 'big');
      const r = op('Where', [op('GreaterOrEqual', [abs, constant('round16/max', 65520)], 'over'), big, finite], 'r');
      rounded.push({ name: `${p}/out`, opType: 'Cast', domain: '', inputs: [r], outputs: [o], attrs: to(DataType.FLOAT16) });
      return `${p}/raw`;
    });
    nodes.push({ ...n, outputs }, ...rounded);
  }
  return { ...model, graph: { ...g, nodes, initializers: new Map([...g.initializers, ...extra]) } };
}

/**
 * A float32 model stored as float16 (weights, Constant values, Cast targets, declared types of
 * inputs, outputs and intermediate tensors): how the tools and tests make float16 copies of a
 * model. The inverse of float32.ts up to float16 rounding.
 */
export function storeInFloat16(model: Model): Model {
  const g = model.graph;
  const info = (v: ValueInfo): ValueInfo => (v.elemType === DataType.FLOAT ? { ...v, elemType: DataType.FLOAT16 } : v);
  return { ...model, graph: rewriteTypes(g, { tensor: halfTensor, info, attrs: halfAttrs }) };
}
