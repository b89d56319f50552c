// Building and reading TensorProtos. Only what the compiler needs: float32, int64 and bool
// constants, and reading small constant values (shapes, axes, pads) back as numbers.
import { type TensorProto, OnnxFormatError } from './proto.js';

export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
} as const;

/** protobufjs gives int64 fields as Long objects; every consumer wants a plain number. */
export function toNumber(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

export function floatTensor(name: string, dims: readonly number[], values: ArrayLike<number>): TensorProto {
  const data = Float32Array.from(values);
  return { name, dims: [...dims], dataType: DataType.FLOAT, rawData: new Uint8Array(data.buffer) };
}

export function int64Tensor(name: string, dims: readonly number[], values: readonly number[]): TensorProto {
  const data = BigInt64Array.from(values.map((v) => BigInt(v)));
  return { name, dims: [...dims], dataType: DataType.INT64, rawData: new Uint8Array(data.buffer) };
}

export function tensorDims(t: TensorProto): number[] {
  return (t.dims ?? []).map(toNumber);
}

function rawView(t: TensorProto): DataView | undefined {
  const raw = t.rawData;
  if (!raw || raw.length === 0) return undefined;
  return new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
}

/** Reads a tensor's values as JS numbers (int64 beyond 2^53 loses precision: fine for shapes). */
export function tensorValues(t: TensorProto): number[] {
  const count = tensorDims(t).reduce((a, b) => a * b, 1);
  const view = rawView(t);
  switch (t.dataType) {
    case DataType.FLOAT:
      if (view) return Array.from({ length: count }, (_, i) => view.getFloat32(4 * i, true));
      return [...(t.floatData ?? [])];
    case DataType.DOUBLE:
      if (view) return Array.from({ length: count }, (_, i) => view.getFloat64(8 * i, true));
      return [...(t.doubleData ?? [])];
    case DataType.INT64:
      if (view) return Array.from({ length: count }, (_, i) => Number(view.getBigInt64(8 * i, true)));
      return (t.int64Data ?? []).map(toNumber);
    case DataType.INT32:
      if (view) return Array.from({ length: count }, (_, i) => view.getInt32(4 * i, true));
      return [...(t.int32Data ?? [])];
    case DataType.INT8:
      if (view) return Array.from({ length: count }, (_, i) => view.getInt8(i));
      return [...(t.int32Data ?? [])];
    case DataType.BOOL:
    case DataType.UINT8:
      if (view) return Array.from({ length: count }, (_, i) => view.getUint8(i));
      return [...(t.int32Data ?? [])];
    default:
      throw new OnnxFormatError(`tensor ${t.name}: cannot read values of data type ${t.dataType}`);
  }
}

/** A float32 tensor's values as a Float32Array (copied when the raw bytes are unaligned). */
export function floatValues(t: TensorProto): Float32Array {
  if (t.dataType !== DataType.FLOAT) throw new OnnxFormatError(`tensor ${t.name}: expected float32, got data type ${t.dataType}`);
  const raw = t.rawData;
  if (raw && raw.length > 0) {
    if (raw.byteOffset % 4 === 0) return new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    const out = new Float32Array(raw.byteLength / 4);
    new Uint8Array(out.buffer).set(raw);
    return out;
  }
  return Float32Array.from(t.floatData ?? []);
}
