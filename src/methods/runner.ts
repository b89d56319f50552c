// What the methods need from a runtime: run a graph on named float32 tensors. `src/runtime`'s
// Session implements it; methods never import onnxruntime.
export interface Tensor {
  data: Float32Array;
  dims: number[];
}

export interface GraphRunner {
  run(feeds: Record<string, Tensor>, fetches?: readonly string[]): Promise<Record<string, Tensor>>;
}

/** The parts one after another (no copy for a single part): a batch from per-image slices. */
export function concat(parts: Float32Array[]): Float32Array {
  if (parts.length === 1) return parts[0] as Float32Array;
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
