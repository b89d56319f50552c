// Float16, bfloat16 and float64 models run in float32 here: the gradient graph, the seeds and the
// inputs the service feeds are float32, and ONNX Runtime's CPU provider has few float16 kernels.
// The pass rewrites the model's own floats: initializers, Constant values, Cast targets, the
// declared types of inputs, outputs and intermediate tensors. It changes precision, not math:
// every op computes what it did, in float32 (a float16 model's logits move by float16 rounding,
// ~1e-3 relative; a float64 model's by float32 rounding).
import { type Attributes } from './attributes.js';
import { halfToFloat } from './float16.js';
import { type Model, type ValueInfo, rewriteTypes } from './ir.js';
import { type TensorProto } from './proto.js';
import { DataType, floatTensor, tensorDims, toNumber } from './tensor.js';

const BFLOAT16 = 16;
const REDUCED_OR_WIDE: ReadonlySet<number> = new Set([DataType.FLOAT16, BFLOAT16, DataType.DOUBLE]);

/** A float16/bfloat16/float64 tensor's values (raw bytes or the typed fields). */
function wideOrNarrowValues(t: TensorProto): number[] {
  const count = tensorDims(t).reduce((a, b) => a * b, 1);
  const raw = t.rawData;
  const view = raw && raw.length > 0 ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : undefined;
  if (t.dataType === DataType.DOUBLE) {
    return view ? Array.from({ length: count }, (_, i) => view.getFloat64(8 * i, true)) : [...(t.doubleData ?? [])];
  }
  // float16 and bfloat16 keep their bits in int32_data when not raw.
  const bits = view ? Array.from({ length: count }, (_, i) => view.getUint16(2 * i, true)) : [...(t.int32Data ?? [])];
  if (t.dataType === BFLOAT16) {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    return bits.map((b) => ((u[0] = b << 16), f[0] as number));
  }
  return bits.map(halfToFloat);
}

function toFloat32Tensor(t: TensorProto): TensorProto {
  if (!REDUCED_OR_WIDE.has(t.dataType ?? 0)) return t;
  return { ...floatTensor(t.name ?? '', tensorDims(t), wideOrNarrowValues(t)), ...(t.docString ? { docString: t.docString } : {}) };
}

function toFloat32Info(v: ValueInfo): ValueInfo {
  return REDUCED_OR_WIDE.has(v.elemType) ? { ...v, elemType: DataType.FLOAT } : v;
}

/** Attributes naming an element type (Cast's `to`, the dtype of generators) or holding a tensor. */
function toFloat32Attrs(attrs: Attributes): Attributes {
  const out: Attributes = {};
  for (const [name, a] of Object.entries(attrs)) {
    if ((name === 'to' || name === 'dtype') && REDUCED_OR_WIDE.has(toNumber(a.i))) out[name] = { ...a, i: DataType.FLOAT };
    else if (a.t) out[name] = { ...a, t: toFloat32Tensor(a.t) };
    else out[name] = a;
  }
  return out;
}

/** The element types the model computed in (float16, bfloat16, float64) that now compute in float32. */
export interface Float32Result {
  model: Model;
  /** ONNX element types that were rewritten; empty when the model was float32 already. */
  from: number[];
}

export function computeInFloat32(model: Model): Float32Result {
  const g = model.graph;
  const seen = new Set<number>();
  const note = (type: number | undefined) => type !== undefined && REDUCED_OR_WIDE.has(type) && seen.add(type);
  for (const t of g.initializers.values()) note(t.dataType ?? undefined);
  for (const v of [...g.inputs, ...g.outputs, ...(g.valueInfo ?? [])]) note(v.elemType);
  for (const n of g.nodes) {
    if (n.opType === 'Cast') note(toNumber(n.attrs['to']?.i));
    for (const a of Object.values(n.attrs)) note(a.t?.dataType ?? undefined);
  }
  if (seen.size === 0) return { model, from: [] };
  const graph = rewriteTypes(g, { tensor: toFloat32Tensor, info: toFloat32Info, attrs: (n) => toFloat32Attrs(n.attrs) });
  return { model: { ...model, graph }, from: [...seen].sort((a, b) => a - b) };
}
