// A preset's channel reduction (Xplique's `reducer`): [N,C,H,W] (or [N,H,W,C]) → [N,1,H,W].
import { type Tensor } from './runner.js';

export function reduceOutputChannels(t: Tensor, how: 'max' | 'mean', layout: 'NCHW' | 'NHWC'): Tensor {
  if (t.dims.length !== 4) return t;
  const [N = 1, d1 = 1, d2 = 1, d3 = 1] = t.dims;
  const [C, H, W] = layout === 'NHWC' ? [d3, d1, d2] : [d1, d2, d3];
  if (C === 1) return layout === 'NHWC' ? { data: t.data, dims: [N, 1, H, W] } : t;
  const plane = H * W;
  const at =
    layout === 'NHWC'
      ? (n: number, c: number, p: number) => t.data[(n * plane + p) * C + c] as number
      : (n: number, c: number, p: number) => t.data[(n * C + c) * plane + p] as number;
  const out = new Float32Array(N * plane);
  for (let n = 0; n < N; n++) {
    for (let p = 0; p < plane; p++) {
      let acc = how === 'max' ? -Infinity : 0;
      for (let c = 0; c < C; c++) acc = how === 'max' ? Math.max(acc, at(n, c, p)) : acc + at(n, c, p);
      out[n * plane + p] = how === 'max' ? acc : acc / C;
    }
  }
  return { data: out, dims: [N, 1, H, W] };
}
