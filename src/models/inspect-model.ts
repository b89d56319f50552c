// What an ONNX classifier says about itself, read for a manifest: the input (name, layout from the
// channel axis, spatial size), the explained output and its class count, and a Grad-CAM layer.
// Everything not in the file (normalisation, labels) is a convention the caller states as such.
import { type Model, type ValueDim } from '../onnx/ir.js';
import { activationLayout } from '../methods/grad-cam.js';
import { type TensorFacts, perSampleElements } from '../onnx/shapes.js';
import { DataType } from '../onnx/tensor.js';

/** Side of the square input used when the model's spatial dimensions are symbolic. */
export const DEFAULT_SIZE = 224;

export class InspectError extends Error {
  override name = 'InspectError';
}

export interface InputFacts {
  name: string;
  layout: 'NCHW' | 'NHWC';
  channels: 1 | 3;
  size: [number, number];
  /** The per-sample shape to probe the model with ([C,H,W] or [H,W,C]). */
  sampleShape: number[];
  /** The batch dimension as the file declares it: a number when it is fixed. */
  batch: ValueDim;
  notes: string[];
}

const spell = (dims: readonly ValueDim[]) => `[${dims.map((d) => (d === undefined ? '?' : String(d))).join(',')}]`;
const known = (d: ValueDim): d is number => typeof d === 'number' && d > 0;
const isChannelAxis = (d: ValueDim) => d === 1 || d === 3;

/**
 * The explained input: its name, and layout and channels from whichever of axis 1 and axis 3 has
 * size 1 or 3. Symbolic spatial dimensions take `size` (default DEFAULT_SIZE), and a note says so.
 */
export function inspectInput(model: Model, options: { size?: [number, number] } = {}): InputFacts {
  const inputs = model.graph.inputs;
  const info = inputs[0];
  if (!info) throw new InspectError('the model has no input');
  if (inputs.length > 1) throw new InspectError(`the model has ${inputs.length} inputs (${inputs.map((v) => v.name).join(', ')}); an image classifier has one`);
  // float16, bfloat16 and float64 inputs become float32 when the model is loaded (onnx/float32.ts).
  const floats: number[] = [0, DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, 16 /* bfloat16 */];
  if (!floats.includes(info.elemType ?? 0)) throw new InspectError(`input ${info.name} has element type ${info.elemType}; the service feeds float images`);
  const dims = info.dims;
  if (!dims || dims.length !== 4) {
    throw new InspectError(`input ${info.name} has shape ${dims ? spell(dims) : '(unknown)'}; the service explains 4-D image inputs [N,C,H,W] or [N,H,W,C]`);
  }
  const notes: string[] = [];
  let layout: 'NCHW' | 'NHWC';
  let channels: 1 | 3;
  if (isChannelAxis(dims[1]) && !isChannelAxis(dims[3])) [layout, channels] = ['NCHW', dims[1] as 1 | 3];
  else if (isChannelAxis(dims[3]) && !isChannelAxis(dims[1])) [layout, channels] = ['NHWC', dims[3] as 1 | 3];
  else if (isChannelAxis(dims[1])) {
    [layout, channels] = ['NCHW', dims[1] as 1 | 3];
    notes.push(`axes 1 and 3 of ${spell(dims)} could both be the channel axis: assumed NCHW; edit input.layout if the model is NHWC`);
  } else if (!known(dims[1]) && !known(dims[3])) {
    [layout, channels] = ['NCHW', 3];
    notes.push(`input ${spell(dims)} does not say where its channels are: assumed NCHW with 3 channels; edit input.layout and input.channels if not`);
  } else {
    throw new InspectError(`input ${info.name} ${spell(dims)} has no channel axis of size 1 or 3 (axis 1 or 3); the service explains grayscale and RGB images`);
  }
  const [h, w] = layout === 'NCHW' ? [dims[2], dims[3]] : [dims[1], dims[2]];
  const fallback = options.size ?? [DEFAULT_SIZE, DEFAULT_SIZE];
  const size: [number, number] = [known(h) ? h : fallback[0], known(w) ? w : fallback[1]];
  if (!known(h) || !known(w)) {
    notes.push(`the input's spatial size is symbolic (${spell(dims)}): using ${size[0]}×${size[1]}${options.size ? ' (--size)' : ''}; edit input.size to the size the model was trained at`);
  }
  if (known(dims[0])) notes.push(`the batch dimension is fixed at ${dims[0]}`);
  const sampleShape = layout === 'NCHW' ? [channels, size[0], size[1]] : [size[0], size[1], channels];
  return { name: info.name, layout, channels, size, sampleShape, batch: dims[0], notes };
}

export interface CamLayerChoice {
  layer: string | undefined;
  /** Per-sample shape of the layer, as stored ([C,H,W], or [H,W,C] for an NHWC activation). */
  shape?: number[];
  note: string;
}

const POOLING = new Set(['GlobalAveragePool', 'GlobalMaxPool', 'ReduceMean', 'ReduceMax', 'AveragePool', 'MaxPool']);
/** Heads that flatten the last feature map into the classifier (VGG, AlexNet). */
const FLATTEN = new Set(['Flatten', 'Reshape']);

/** The input's spatial size and layout: an activation's own layout is read against them. */
export type InputFrame = Pick<InputFacts, 'size' | 'layout'>;

interface Activation {
  /** Per-sample shape. */
  shape: number[];
  channels: number;
  /** Spatial elements per channel, h·w. */
  plane: number;
}

/** A float activation [N,…] of 4 known dims, its channels where its own layout has them (grad-cam.ts). */
function activation(facts: TensorFacts, tensor: string, input: InputFrame): Activation | undefined {
  const shape = facts.shapes.get(tensor);
  const type = facts.types.get(tensor);
  if (shape?.length !== 4 || shape[0] !== 'N' || (type !== undefined && type !== DataType.FLOAT)) return undefined;
  const rest = shape.slice(1);
  if (rest.some((d) => typeof d !== 'number')) return undefined;
  const [a, b, c] = rest as [number, number, number];
  const [channels, h, w] = activationLayout([a, b, c], input.size, input.layout) === 'NCHW' ? [a, b, c] : [c, a, b];
  return { shape: rest as number[], channels, plane: h * w };
}

/** An activation whose plane is larger than 1×1 (Grad-CAM over a 1×1 map is a constant). */
function spatialActivation(facts: TensorFacts, tensor: string, input: InputFrame): Activation | undefined {
  const a = activation(facts, tensor, input);
  return a && a.plane > 1 ? a : undefined;
}

/**
 * The Grad-CAM layer: the last 4-D activation ([N,C,H,W] or [N,H,W,C], spatial size above 1×1) that
 * feeds a pooling over its spatial axes, as in every CNN classifier's head. Transformers have none
 * (their last 4-D tensor is the patch embedding): no layer then, and the note says what to set.
 */
export function chooseCamLayer(model: Model, facts: TensorFacts, input: InputFrame): CamLayerChoice {
  const nodes = model.graph.nodes;
  const spatialBefore = (end: number) => {
    for (let i = end - 1; i >= 0; i--) {
      for (const out of nodes[i]?.outputs ?? []) {
        const spatial = out ? spatialActivation(facts, out, input) : undefined;
        if (spatial) return { tensor: out, shape: spatial.shape };
      }
    }
    return undefined;
  };
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    if (!node || !(POOLING.has(node.opType) || FLATTEN.has(node.opType))) continue;
    const pooled = node.inputs[0] ?? '';
    const shape = facts.shapes.get(pooled);
    const out = facts.shapes.get(node.outputs[0] ?? '');
    if (shape?.length !== 4 || shape[0] !== 'N' || !out) continue;
    const before = activation(facts, pooled, input);
    // A pooling over the whole plane keeps only the channels ([N,C], [N,C,1,1], NHWC's [N,1,1,C]);
    // a flattening head leaves [N,C·H·W].
    const global = POOLING.has(node.opType) ? before !== undefined && perSampleElements(out) === before.channels : out.length === 2;
    if (!global) continue;
    const head = `the ${node.opType} node ${node.name || '(unnamed)'} before the classifier`;
    const spatial = before && before.plane > 1 ? before : undefined;
    if (spatial) return { layer: pooled, shape: spatial.shape, note: `${pooled} [${spatial.shape.join(',')}], the input of ${head}` };
    // A Flatten of the pooled [N,C,1,1]: the pooling is further up.
    if (FLATTEN.has(node.opType)) continue;
    // The pooled map is already 1×1 at this input size: Grad-CAM there is a constant.
    const earlier = spatialBefore(i);
    if (earlier) return { layer: earlier.tensor, shape: earlier.shape, note: `${earlier.tensor} [${earlier.shape.join(',')}]: the map pooled by ${head} is 1×1 at this input size, so the last larger one` };
  }
  const last = spatialBefore(nodes.length);
  if (!last) return { layer: undefined, note: 'the model has no 4-D activation: Grad-CAM is not available' };
  return {
    layer: undefined,
    note: `no 4-D activation feeds a global pooling (a transformer?); the last one is ${last.tensor} [${last.shape.join(',')}]: set gradCamLayer to it (or pass layer=…) if Grad-CAM there is what you want`,
  };
}
