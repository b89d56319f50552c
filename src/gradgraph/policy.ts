// Backward policies: how a method changes the standard reverse sweep.
import { type Node } from '../onnx/ir.js';
import { type GradRule } from './rule.js';

export interface BackwardPolicy {
  /** Replace the backward rule of an op type (e.g. guided ReLU for Guided Backprop). */
  overrides?: Partial<Record<string, GradRule>>;
  /**
   * What to do with a node's local derivatives (see RuleContext.derivative):
   * 'inject' replaces each by an extra graph input (SmoothDiff's averaged Jacobians);
   * 'expose' computes it as usual and also returns it as a graph output (statistics passes).
   */
  derivatives?: { mode: 'inject' | 'expose'; select?: (node: Node) => boolean };
  /** Tensors whose value and gradient become extra outputs (`<name>` and `grad_<name>`). */
  expose?: readonly string[];
  /** The backward sweep stops at these tensors: nothing before them is differentiated. */
  stopAt?: readonly string[];
}
