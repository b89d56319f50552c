// Typed access to node attributes, and constructors for the attributes the compiler emits.
import { onnx, type AttributeProto } from './proto.js';
import { toNumber } from './tensor.js';

const T = onnx.AttributeProto.AttributeType;
export type Attributes = Record<string, AttributeProto>;

export const attr = {
  int: (i: number): AttributeProto => ({ type: T.INT, i }),
  ints: (ints: readonly number[]): AttributeProto => ({ type: T.INTS, ints: [...ints] }),
  float: (f: number): AttributeProto => ({ type: T.FLOAT, f }),
  floats: (floats: readonly number[]): AttributeProto => ({ type: T.FLOATS, floats: [...floats] }),
  string: (s: string): AttributeProto => ({ type: T.STRING, s: new TextEncoder().encode(s) }),
};

export function getInt(attrs: Attributes, name: string, fallback: number): number {
  const a = attrs[name];
  return a ? toNumber(a.i) : fallback;
}

export function getInts(attrs: Attributes, name: string): number[] | undefined {
  const a = attrs[name];
  return a ? (a.ints ?? []).map(toNumber) : undefined;
}

export function getFloat(attrs: Attributes, name: string, fallback: number): number {
  const a = attrs[name];
  return a ? (a.f ?? 0) : fallback;
}

export function getString(attrs: Attributes, name: string, fallback: string): string {
  const a = attrs[name];
  return a?.s ? new TextDecoder().decode(a.s) : fallback;
}
