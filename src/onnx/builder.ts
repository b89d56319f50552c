// Emits nodes and constants into a graph with fresh names. Version-dependent op forms (axes as an
// attribute before opset 13, as an input from 13 on) live here, so rules read like the math.
import { attr, type Attributes } from './attributes.js';
import { type Graph, type Node } from './ir.js';
import { onnx } from './proto.js';
import { DataType, floatTensor, int64Tensor } from './tensor.js';

export class GraphBuilder {
  readonly nodes: Node[] = [];
  private counter = 0;
  private readonly constants = new Map<string, string>();
  private readonly taken = new Set<string>();

  constructor(
    private readonly graph: Graph,
    readonly opset: number,
    private readonly prefix = 'grad',
  ) {
    for (const name of graph.initializers.keys()) this.taken.add(name);
    for (const v of [...graph.inputs, ...graph.outputs]) this.taken.add(v.name);
    for (const n of graph.nodes) for (const t of [n.name, ...n.inputs, ...n.outputs]) this.taken.add(t);
  }

  /** A name not used anywhere in the graph. */
  fresh(tag: string): string {
    let name: string;
    do name = `${this.prefix}/${tag}_${this.counter++}`;
    while (this.taken.has(name));
    this.taken.add(name);
    return name;
  }

  /** Emits one node and returns its outputs. */
  opN(opType: string, inputs: readonly string[], outputCount: number, attrs: Attributes = {}): string[] {
    const outputs = Array.from({ length: outputCount }, () => this.fresh(opType));
    this.nodes.push({ name: this.fresh(`${opType}_node`), opType, domain: '', inputs: [...inputs], outputs, attrs });
    return outputs;
  }

  /** Emits one node whose outputs have given names (graph outputs, policy-visible tensors). */
  emit(opType: string, inputs: readonly string[], outputs: readonly string[], attrs: Attributes = {}): void {
    for (const o of outputs) this.taken.add(o);
    this.nodes.push({ name: this.fresh(`${opType}_node`), opType, domain: '', inputs: [...inputs], outputs: [...outputs], attrs });
  }

  op(opType: string, inputs: readonly string[], attrs: Attributes = {}): string {
    return this.opN(opType, inputs, 1, attrs)[0] as string;
  }

  private constant(key: string, make: (name: string) => Parameters<Graph['initializers']['set']>[1]): string {
    const cached = this.constants.get(key);
    if (cached) return cached;
    const name = this.fresh('const');
    this.graph.initializers.set(name, make(name));
    this.constants.set(key, name);
    return name;
  }

  /** A float32 constant; a scalar when `dims` is omitted and one value is given. */
  floats(values: ArrayLike<number>, dims?: readonly number[]): string {
    const shape = dims ?? (values.length === 1 ? [] : [values.length]);
    if (values.length > 64) return this.constant(this.fresh('f'), (n) => floatTensor(n, shape, values));
    return this.constant(`f:${shape.join('x')}:${Array.from(values).join(',')}`, (n) => floatTensor(n, shape, values));
  }

  scalar(value: number): string {
    return this.floats([value]);
  }

  ints(values: readonly number[], dims?: readonly number[]): string {
    const shape = dims ?? [values.length];
    return this.constant(`i:${shape.join('x')}:${values.join(',')}`, (n) => int64Tensor(n, shape, values));
  }

  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }
  sub(a: string, b: string): string {
    return this.op('Sub', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }
  div(a: string, b: string): string {
    return this.op('Div', [a, b]);
  }
  neg(a: string): string {
    return this.op('Neg', [a]);
  }

  /** Sum over several contributions (fan-out), as one node. */
  sum(terms: readonly string[]): string {
    if (terms.length === 1) return terms[0] as string;
    return this.op('Sum', terms);
  }

  shapeOf(x: string): string {
    return this.op('Shape', [x]);
  }

  reshape(x: string, shape: string): string {
    return this.op('Reshape', [x, shape]);
  }

  /** Reshape `x` to the runtime shape of `like`. */
  reshapeLike(x: string, like: string): string {
    return this.reshape(x, this.shapeOf(like));
  }

  transpose(x: string, perm: readonly number[]): string {
    return this.op('Transpose', [x], { perm: attr.ints(perm) });
  }

  /** Cast to an ONNX element type (a DataType value). */
  cast(x: string, to: (typeof DataType)[keyof typeof DataType]): string {
    return this.op('Cast', [x], { to: attr.int(to) });
  }

  /** Cast to float32 (masks from comparisons, integer tensors). */
  toFloat(x: string): string {
    return this.cast(x, DataType.FLOAT);
  }

  /** Float one-hot of the int64 classes `index`, along a new `axis` of a rank-`rank` result. */
  oneHot(index: string, axis: number, classes: number, rank: number): string {
    const range = this.ints(
      Array.from({ length: classes }, (_, k) => k),
      [classes, ...new Array<number>(rank - axis - 1).fill(1)],
    );
    return this.toFloat(this.op('Equal', [this.unsqueeze(index, [axis]), range]));
  }

  /** ReduceSum over static axes; no axes means the identity, never "all axes". */
  reduceSum(x: string, axes: readonly number[], keepdims: boolean): string {
    if (axes.length === 0) return x;
    if (this.opset >= 13) {
      return this.op('ReduceSum', [x, this.ints(axes)], { keepdims: attr.int(keepdims ? 1 : 0), noop_with_empty_axes: attr.int(1) });
    }
    return this.op('ReduceSum', [x], { axes: attr.ints(axes), keepdims: attr.int(keepdims ? 1 : 0) });
  }

  /** ReduceMax, ReduceMean, … (axes became an input at opset 18 for these). */
  reduce(opType: string, x: string, axes: readonly number[], keepdims: boolean): string {
    if (opType === 'ReduceSum') return this.reduceSum(x, axes, keepdims);
    if (this.opset >= 18) return this.op(opType, [x, this.ints(axes)], { keepdims: attr.int(keepdims ? 1 : 0) });
    return this.op(opType, [x], { axes: attr.ints(axes), keepdims: attr.int(keepdims ? 1 : 0) });
  }

  unsqueeze(x: string, axes: readonly number[]): string {
    if (axes.length === 0) return x;
    if (this.opset >= 13) return this.op('Unsqueeze', [x, this.ints(axes)]);
    return this.op('Unsqueeze', [x], { axes: attr.ints(axes) });
  }

  squeeze(x: string, axes: readonly number[]): string {
    if (axes.length === 0) return x;
    if (this.opset >= 13) return this.op('Squeeze', [x, this.ints(axes)]);
    return this.op('Squeeze', [x], { axes: attr.ints(axes) });
  }

  /** A float32 tensor of the runtime shape of `like`, every element `value`. */
  fillLike(like: string, value: number): string {
    return this.op('ConstantOfShape', [this.shapeOf(like)], {
      value: { type: onnx.AttributeProto.AttributeType.TENSOR, t: floatTensor('', [1], [value]) },
    });
  }

  /** Zeros with the runtime shape of `like` (float32). */
  zerosLike(like: string): string {
    return this.fillLike(like, 0);
  }

  /** Constant-padding with static begin/end pads per axis. */
  pad(x: string, begins: readonly number[], ends: readonly number[]): string {
    if ([...begins, ...ends].every((p) => p === 0)) return x;
    return this.op('Pad', [x, this.ints([...begins, ...ends])], { mode: attr.string('constant') });
  }

  /** Slice with static starts/ends/axes/steps. */
  slice(x: string, starts: readonly number[], ends: readonly number[], axes: readonly number[], steps?: readonly number[]): string {
    const inputs = [x, this.ints(starts), this.ints(ends), this.ints(axes)];
    if (steps) inputs.push(this.ints(steps));
    return this.op('Slice', inputs);
  }
}
