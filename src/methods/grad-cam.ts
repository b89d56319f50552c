// Grad-CAM (Selvaraju et al. 2017): ReLU(Σ_k α_k A^k) with α_k the spatial mean of ∂y_c/∂A^k,
// upsampled bilinearly (half-pixel centres, as PyTorch's align_corners=False) to the input size.
// The backward sweep stops at A: nothing before the layer is differentiated.
import { pruneGraph } from '../onnx/prune.js';
import { gradName } from '../gradgraph/index.js';
import { upsampleCam } from './cam-upsample.js';
import { type ModelContext, channelsLast, compileFor, isBatchDim, pointsPerRun, spatialSize } from './context.js';
import { type ResolvedParams } from './params.js';
import { type CamLayerDefault } from './presets.js';
import { type Tensor } from './runner.js';
import { oneHotSeed } from './targets.js';

export class GradCamError extends Error {
  override name = 'GradCamError';
}

/** The last 4-D activation that feeds a global pooling (GlobalAveragePool, or ReduceMean over H, W). */
export function defaultCamLayer(ctx: ModelContext): string | undefined {
  for (let i = ctx.model.graph.nodes.length - 1; i >= 0; i--) {
    const node = ctx.model.graph.nodes[i];
    if (!node || !['GlobalAveragePool', 'ReduceMean', 'GlobalMaxPool', 'AveragePool'].includes(node.opType)) continue;
    const input = node.inputs[0] ?? '';
    const shape = ctx.facts.shapes.get(input);
    if (shape?.length === 4 && isBatchDim(ctx, shape[0])) return input;
  }
  return undefined;
}

/**
 * The output of the graph's last Conv node (in node order) that is a 4-D activation: Xplique's
 * GradCAM default, the last layer of the model that has filters. A BatchNormalization the export
 * folded into that Conv is part of it here.
 */
export function lastConvLayer(ctx: ModelContext): string | undefined {
  for (let i = ctx.model.graph.nodes.length - 1; i >= 0; i--) {
    const node = ctx.model.graph.nodes[i];
    if (node?.opType !== 'Conv') continue;
    const output = node.outputs[0] ?? '';
    const shape = ctx.facts.shapes.get(output);
    if (shape?.length === 4 && isBatchDim(ctx, shape[0])) return output;
  }
  return undefined;
}

/** A Grad-CAM layer: its tensor, and its activation's channels and spatial size per image. */
export interface CamLayer {
  name: string;
  /** Where the activation keeps its channels: [N,K,h,w] (NCHW) or [N,h,w,K] (NHWC). */
  layout: 'NCHW' | 'NHWC';
  K: number;
  h: number;
  w: number;
}

/**
 * Where a 4-D activation [N,a,b,c] keeps its channels, read from its shape rather than from the
 * input's layout: tf2onnx-style exports of NHWC models keep NHWC tensors between Transposes and
 * run their convolutions NCHW after one, so one model has activations of both layouts. The
 * spatial pair is the one that fits inside the input and keeps its aspect ratio ((b,c) for NCHW,
 * (a,b) for NHWC); where both fit equally well ([N,4,4,4]), the input's layout decides.
 */
export function activationLayout(dims: readonly [number, number, number], input: readonly [number, number], fallback: 'NCHW' | 'NHWC'): 'NCHW' | 'NHWC' {
  const [H, W] = input;
  const misfit = (h: number, w: number) => (h > H || w > W ? Infinity : Math.abs(Math.log(h / H / (w / W))));
  const [a, b, c] = dims;
  const nchw = misfit(b, c);
  const nhwc = misfit(a, b);
  if (nchw === nhwc) return fallback;
  return nchw < nhwc ? 'NCHW' : 'NHWC';
}

/** `fallback`: where to look when no layer is requested (a preset's library may have its own default). */
export function camLayer(ctx: ModelContext, requested: string | undefined, fallback: CamLayerDefault = 'pooled'): CamLayer {
  const layer = requested ?? (fallback === 'last-conv' ? lastConvLayer(ctx) : defaultCamLayer(ctx));
  if (!layer)
    throw new GradCamError(
      fallback === 'last-conv'
        ? 'this model has no convolution with a 4-D output; pass layer=<tensor name>'
        : 'this model has no 4-D activation before a global pooling; pass layer=<tensor name>',
    );
  const shape = ctx.facts.shapes.get(layer);
  if (!shape) throw new GradCamError(`layer ${layer} is not a tensor of this model`);
  const dims = shape.slice(1);
  if (shape.length !== 4 || !isBatchDim(ctx, shape[0]) || dims.some((d) => typeof d !== 'number'))
    throw new GradCamError(`layer ${layer} has shape [${shape.join(',')}]; Grad-CAM needs a 4-D activation [N,C,H,W] or [N,H,W,C]`);
  const [a, b, c] = dims as [number, number, number];
  const layout = activationLayout([a, b, c], spatialSize(ctx), channelsLast(ctx) ? 'NHWC' : 'NCHW');
  return layout === 'NCHW' ? { name: layer, layout, K: a, h: b, w: c } : { name: layer, layout, K: c, h: a, w: b };
}

/** Index of activation element (image b, channel k, position i of h·w) in a batch of `layer`'s layout. */
export function activationIndex(layer: CamLayer, b: number, k: number, i: number): number {
  const plane = layer.h * layer.w;
  return layer.layout === 'NCHW' ? (b * layer.K + k) * plane + i : (b * plane + i) * layer.K + k;
}

/** Bilinear resize of one plane with half-pixel centres (PyTorch align_corners=False). */
export function resizeBilinear(src: Float32Array, h: number, w: number, H: number, W: number): Float32Array {
  const out = new Float32Array(H * W);
  const coord = (o: number, inSize: number, outSize: number) => {
    const c = Math.max(0, ((o + 0.5) * inSize) / outSize - 0.5);
    const i0 = Math.min(Math.floor(c), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    return [i0, i1, c - i0] as const;
  };
  for (let y = 0; y < H; y++) {
    const [y0, y1, fy] = coord(y, h, H);
    for (let x = 0; x < W; x++) {
      const [x0, x1, fx] = coord(x, w, W);
      const top = (src[y0 * w + x0] as number) * (1 - fx) + (src[y0 * w + x1] as number) * fx;
      const bottom = (src[y1 * w + x0] as number) * (1 - fx) + (src[y1 * w + x1] as number) * fx;
      out[y * W + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

export async function runGradCam(
  ctx: ModelContext,
  x: Tensor,
  classes: number,
  targets: number[],
  p: ResolvedParams,
): Promise<{ attribution: Tensor; layer: string }> {
  const cl = camLayer(ctx, p.layer, p.output?.camLayer);
  const { name: layer, K, h, w } = cl;
  const key = `cam:${layer}`;
  const compiled = compileFor(ctx, key, { expose: [layer], stopAt: [layer] });
  const runner = await ctx.sessions(key, () => ({ ...compiled.model, graph: pruneGraph(compiled.model.graph, [layer, gradName(layer)]) }));
  const [H, W] = spatialSize(ctx);
  const B = x.dims[0] as number;
  const size = x.data.length / B;
  const cam = new Float32Array(B * H * W);
  const chunk = pointsPerRun(ctx);
  for (let b0 = 0; b0 < B; b0 += chunk) {
    const b1 = Math.min(B, b0 + chunk);
    const out = await runner.run({
      [compiled.input]: { data: x.data.subarray(b0 * size, b1 * size), dims: [b1 - b0, ...ctx.sampleShape] },
      [compiled.seed]: oneHotSeed(targets.slice(b0, b1), classes),
    });
    const A = (out[layer] as Tensor).data;
    const G = (out[gradName(layer)] as Tensor).data;
    for (let b = b0; b < b1; b++) {
      const map = new Float32Array(h * w);
      for (let k = 0; k < K; k++) {
        const at = (i: number) => activationIndex(cl, b - b0, k, i);
        let alpha = 0;
        for (let i = 0; i < h * w; i++) alpha += G[at(i)] as number;
        alpha /= h * w;
        for (let i = 0; i < h * w; i++) map[i] = (map[i] as number) + alpha * (A[at(i)] as number);
      }
      if (p.relu) map.forEach((v, i) => (map[i] = Math.max(0, v)));
      // A preset's library may divide by the map's maximum (PAIR) and upsample its own way.
      if (p.output?.camNormalize) {
        const top = map.reduce((a, v) => Math.max(a, v), -Infinity);
        if (top > 0) map.forEach((v, i) => (map[i] = v / top));
      }
      const mode = p.output?.camUpsample ?? 'bilinear';
      cam.set(mode === 'bilinear' ? resizeBilinear(map, h, w, H, W) : upsampleCam(mode, map, h, w, H, W), b * H * W);
    }
  }
  return { attribution: { data: cam, dims: [B, 1, H, W] }, layer };
}
