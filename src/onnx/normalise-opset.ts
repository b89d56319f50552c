// Normalises old operator forms before the compiler sees a model, so that its rules and the
// graphs it emits deal with one form per op.
//
// Models below opset 11 (7–10: model-zoo classics, older converters) are upgraded to opset 11:
// every op whose definition changed between the model's opset and 11 is rewritten into its
// opset-11 form with the same semantics, and the model then declares opset 11. Opset 11 is the
// oldest version the rules and GraphBuilder emit for, and between 7 and 11 only the forms
// rewritten here changed (ONNX's Changelog.md); everything else (Softmax's 2-D coercion,
// Squeeze/Unsqueeze/Reduce* axes as attributes, Split's `split` attribute) reads the same at 11.
//
//   Clip-6         min/max attributes            → optional inputs (Clip-11)
//   Slice-1        starts/ends/axes attributes   → inputs (Slice-10)
//   Pad-2          pads/value attributes         → inputs (Pad-11)
//   TopK-1         k attribute                   → input (TopK-10)
//   Upsample-7/9   scales attribute/input        → Resize-11, asymmetric coordinates, floor
//   Resize-10                                     → Resize-11 with an empty roi, same mapping
//   Scatter-9                                     → ScatterElements-11 (a rename)
//   BatchNormalization-7  spatial=1 (dropped; spatial=0 is refused), consumed_inputs dropped
//   Dropout-7      is_test dropped (inference Dropout is the identity at every version)
//   Gemm/Add/…-6   `broadcast` attribute dropped (numpy broadcasting is the rule from 7)
//
// Unchanged because they read the same at 11: variadic Sum/Mean/Max/Min (8 added broadcasting, a
// superset of 6–7's equal shapes), MaxPool's `storage_order` (8) and `ceil_mode`/`dilations` (10),
// Softmax/LogSoftmax (flatten to 2-D at `axis` until 13: the rules implement that), Dropout's
// `ratio` attribute (an input from 12), Split's `split` and Squeeze/Unsqueeze/Reduce*'s `axes`
// attributes (inputs from 13/18). Nodes inside Loop/If/Scan bodies are not rewritten.
//
// Models at opset 11 and newer keep their version: the rules read the forms that changed after
// 11 by opset (axes inputs from 13/18, Softmax's coercion before 13, Pad's axes input from 18,
// Split's num_outputs from 18), and GraphBuilder emits each node in the form of the model's
// opset. The Upsample/Resize mapping follows ONNX's own version converter (Resize 10→11:
// nearest → floor of asymmetric coordinates), which is what Upsample always computed.
import { attr, getFloat, getInt, getInts, getString, type Attributes } from './attributes.js';
import { GraphBuilder } from './builder.js';
import { type Model, type Node } from './ir.js';

/** The oldest opset ONNX Runtime loads, and the one every older model is upgraded to. */
export const OLDEST_OPSET = 7;
export const UPGRADE_TO = 11;

/** A model this pass cannot bring to a supported form (too old, or an op form with no equivalent). */
export class OpsetUpgradeError extends Error {
  override name = 'OpsetUpgradeError';
}

export interface NormalisedModel {
  model: Model;
  /** The opset the model was written at (model.opset is the one it declares now). */
  originalOpset: number;
  /** One line per rewritten op type: what was done, and how many nodes. */
  rewrites: string[];
}

function without(attrs: Attributes, ...names: string[]): Attributes {
  const out: Attributes = { ...attrs };
  for (const n of names) delete out[n];
  return out;
}

type Rewrite = (node: Node, b: GraphBuilder) => Node;

const dropBroadcast: Rewrite = (node) => ({ ...node, attrs: without(node.attrs, 'broadcast', 'axis', 'consumed_inputs') });

/** Upsample/Resize-10 → Resize-11: `scales` from an input or the attribute, asymmetric, floor. */
function toResize11(node: Node, b: GraphBuilder, scalesAttr: boolean): Node {
  const mode = getString(node.attrs, 'mode', 'nearest');
  if (mode !== 'nearest' && mode !== 'linear') throw new OpsetUpgradeError(`${node.opType} (node ${node.name}): mode ${mode} has no opset-11 form`);
  const scales = scalesAttr ? b.floats(node.attrs['scales']?.floats ?? [], [node.attrs['scales']?.floats?.length ?? 0]) : (node.inputs[1] ?? '');
  const roi = b.floats([], [0]);
  return {
    ...node,
    opType: 'Resize',
    inputs: [node.inputs[0] ?? '', roi, scales],
    attrs: {
      mode: attr.string(mode),
      coordinate_transformation_mode: attr.string('asymmetric'),
      ...(mode === 'nearest' ? { nearest_mode: attr.string('floor') } : {}),
    },
  };
}

/** Rewrites of a node at `opset` (< 11) into its opset-11 form; undefined when it reads the same. */
function rewriteFor(node: Node, opset: number): Rewrite | undefined {
  if (node.domain !== '' && node.domain !== 'ai.onnx') return undefined;
  switch (node.opType) {
    case 'Clip':
      return (n, b) => {
        const lo = n.attrs['min'] ? b.scalar(getFloat(n.attrs, 'min', 0)) : '';
        const hi = n.attrs['max'] ? b.scalar(getFloat(n.attrs, 'max', 0)) : '';
        const inputs = [n.inputs[0] ?? '', lo, hi];
        while (inputs.length > 1 && inputs[inputs.length - 1] === '') inputs.pop();
        return { ...n, inputs, attrs: without(n.attrs, 'min', 'max', 'consumed_inputs') };
      };
    case 'Slice':
      if (opset >= 10) return undefined;
      return (n, b) => {
        const starts = getInts(n.attrs, 'starts') ?? [];
        const ends = getInts(n.attrs, 'ends') ?? [];
        const axes = getInts(n.attrs, 'axes');
        const inputs = [n.inputs[0] ?? '', b.ints(starts), b.ints(ends), ...(axes ? [b.ints(axes)] : [])];
        return { ...n, inputs, attrs: {} };
      };
    case 'Pad':
      return (n, b) => {
        const mode = getString(n.attrs, 'mode', 'constant');
        const pads = getInts(n.attrs, 'pads') ?? getInts(n.attrs, 'paddings') ?? [];
        const value = getFloat(n.attrs, 'value', 0);
        const inputs = [n.inputs[0] ?? '', b.ints(pads)];
        if (mode === 'constant' && value !== 0) inputs.push(b.scalar(value));
        return { ...n, inputs, attrs: { mode: attr.string(mode) } };
      };
    case 'TopK':
      if (opset >= 10) return undefined;
      return (n, b) => ({ ...n, inputs: [n.inputs[0] ?? '', b.ints([getInt(n.attrs, 'k', 1)])], attrs: without(n.attrs, 'k') });
    case 'Upsample':
      return (n, b) => toResize11(n, b, opset < 9);
    case 'Resize':
      return (n, b) => toResize11(n, b, false);
    case 'Scatter':
      return (n) => ({ ...n, opType: 'ScatterElements' });
    case 'BatchNormalization':
      return (n) => {
        if (getInt(n.attrs, 'spatial', 1) !== 1) {
          throw new OpsetUpgradeError(
            `BatchNormalization (node ${n.name}) with spatial=0 (statistics per element, opset ${opset}) is not supported; re-export with per-channel statistics`,
          );
        }
        return { ...n, attrs: without(n.attrs, 'spatial', 'consumed_inputs', 'is_test') };
      };
    case 'Dropout':
      return (n) => ({ ...n, attrs: without(n.attrs, 'is_test') });
    case 'Gemm':
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
    case 'Pow':
    case 'PRelu':
      return 'broadcast' in node.attrs || 'consumed_inputs' in node.attrs ? dropBroadcast : undefined;
    default:
      return undefined;
  }
}

/** The model with every pre-11 op form rewritten (models at 11 or newer come back unchanged). */
export function normaliseOpset(model: Model): NormalisedModel {
  const originalOpset = model.opset;
  if (originalOpset < OLDEST_OPSET) {
    throw new OpsetUpgradeError(
      `opset ${originalOpset} is older than ${OLDEST_OPSET}, the oldest ONNX Runtime runs; convert the model to opset ${UPGRADE_TO} or newer (onnx.version_converter)`,
    );
  }
  if (originalOpset >= UPGRADE_TO) return { model, originalOpset, rewrites: [] };

  const graph = { ...model.graph, initializers: new Map(model.graph.initializers) };
  const b = new GraphBuilder(graph, UPGRADE_TO, 'opset');
  const counts = new Map<string, number>();
  const nodes = graph.nodes.map((node) => {
    const rewrite = rewriteFor(node, originalOpset);
    if (!rewrite) return node;
    counts.set(node.opType, (counts.get(node.opType) ?? 0) + 1);
    return rewrite(node, b);
  });
  const rewrites = [...counts].map(([op, n]) => `${op}: ${n} node${n === 1 ? '' : 's'} rewritten to the opset-${UPGRADE_TO} form`);
  return { model: { ...model, opset: UPGRADE_TO, graph: { ...graph, nodes } }, originalOpset, rewrites };
}
