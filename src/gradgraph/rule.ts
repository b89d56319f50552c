// The contract between the compiler and one op's backward rule. A rule reads the node's forward
// tensors and output cotangents, emits nodes through the builder, and hands each input its
// cotangent contribution. Rules never see the whole graph.
import { type Attributes } from '../onnx/attributes.js';
import { type GraphBuilder } from '../onnx/builder.js';
import { type Node } from '../onnx/ir.js';
import { type TensorProto } from '../onnx/proto.js';
import { type Dim } from '../onnx/shapes.js';

/** A local derivative that is one-hot along `axis` (`classes` long): `index` builds the classes. */
export interface OneHotDerivative {
  axis: number;
  classes: number;
  /** int64 class per element, of the derivative's shape without `axis`. */
  index: () => string;
}

export interface RuleContext {
  readonly node: Node;
  readonly b: GraphBuilder;
  readonly opset: number;
  readonly attrs: Attributes;
  /** Name of forward input i ('' when absent). */
  input(i: number): string;
  output(i: number): string;
  /** Static shape of a forward tensor (batch symbolic); throws a CompileError when unknown. */
  shape(tensor: string): Dim[];
  /** The initializer of that name (a weight), if the tensor is one. */
  initializer(tensor: string): TensorProto | undefined;
  /** Whether a policy may replace or expose this node's local derivatives (then keep them as tensors). */
  readonly derivativesObserved: boolean;
  /** The graph may also compute in float16 (CompileOptions.float16): no constants beyond its range. */
  readonly float16: boolean;
  /** Constant value of an integer/float tensor, if it is known at compile time. */
  constant(tensor: string): Dim[] | undefined;
  /** Like `constant`, but required: throws a CompileError naming the node when unknown. */
  requireConstant(tensor: string, what: string): number[];
  /** Cotangent of output i, or undefined when nothing downstream depends on it. */
  gradOut(i: number): string | undefined;
  /**
   * Cotangent of output i, which the rule needs: throws a CompileError naming the node when
   * nothing downstream depends on it (the compiler runs a rule only when some output has one).
   */
  cotangent(i: number): string;
  /** Cotangent of output i, zeros when nothing downstream depends on it. */
  gradOutOrZeros(i: number): string;
  /** Whether input i needs a cotangent (it depends on the explained input). */
  needs(i: number): boolean;
  /**
   * Adds a cotangent contribution to input i (summed with other contributions). `region` says the
   * contribution is `region.part` zero-padded along one axis: when all of an input's contributions
   * are such parts and tile the axis (the slices of a fused QKV projection), the compiler
   * concatenates the parts instead of summing padded copies.
   */
  give(i: number, grad: string, region?: Region): void;
  /**
   * The local derivative (Jacobian representation) `key` of this node, built by `compute` from
   * forward tensors. Policies may replace it by an extra graph input (SmoothDiff) or also expose
   * it as an output; `shape` is its static shape. With `oneHot`, the derivative is a one-hot
   * along an axis of an integer tensor of class indices, and a statistics pass is given the
   * indices instead (their per-element counts over copies are the derivative's sum).
   */
  derivative(key: string, shape: Dim[], compute: () => string, oneHot?: OneHotDerivative): string;
  /** Throws a CompileError naming this node. */
  fail(message: string): never;
}

/** A contribution that is `part`, zero-padded to the input's shape outside [start, end) of `axis`. */
export interface Region {
  axis: number;
  start: number;
  end: number;
  part: string;
}

export interface GradRule {
  /** Indices of the inputs gradients flow through; default: every input. */
  differentiable?: readonly number[];
  backward(ctx: RuleContext): void;
  /**
   * The op's outputs are quantized integers that still carry a gradient (QuantizeLinear): the
   * forward walk keeps them active although they are not float tensors.
   */
  quantizedOutputs?: boolean;
  /** Set when the rule is not the op's exact derivative: what it computes instead, in one line. */
  approximation?: string;
}

export class CompileError extends Error {
  override name = 'CompileError';
}
