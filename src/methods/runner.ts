// What the methods need from a runtime: run a graph on named float32 tensors. `src/runtime`'s
// Session implements it; methods never import onnxruntime.
export interface Tensor {
  data: Float32Array;
  dims: number[];
}

export interface GraphRunner {
  run(feeds: Record<string, Tensor>, fetches?: readonly string[]): Promise<Record<string, Tensor>>;
}
