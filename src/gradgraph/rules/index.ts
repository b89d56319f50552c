// The rule registry: (domain, op type) → backward rule, and the ops whose outputs carry no gradient.
// ONNX's own ops live in RULES; com.microsoft contrib ops (what ONNX Runtime's optimiser and
// fusing exporters write) in CONTRIB_RULES. A node's domain picks the table, so an ONNX op and a
// contrib op of the same name (Gelu) never shadow each other.
import { getString } from '../../onnx/attributes.js';
import { type Node } from '../../onnx/ir.js';
import { type GradRule } from '../rule.js';
import { activationRules } from './activations.js';
import { contribRules, fusedWithActivationRule } from './contrib.js';
import { convolutionRules } from './convolution.js';
import { elementwiseRules } from './elementwise.js';
import { linearAlgebraRules } from './linear-algebra.js';
import { normalizationRules } from './normalization.js';
import { poolingRules } from './pooling.js';
import { quantizationRules } from './quantization.js';
import { reductionRules } from './reduction.js';
import { resizeRules } from './resize.js';
import { shapeRules } from './shape-ops.js';
import { softmaxRules } from './softmax.js';

export const MICROSOFT_DOMAIN = 'com.microsoft';

export const RULES: Readonly<Record<string, GradRule>> = {
  ...elementwiseRules,
  ...activationRules,
  ...softmaxRules,
  ...convolutionRules,
  ...poolingRules,
  ...linearAlgebraRules,
  ...normalizationRules,
  ...reductionRules,
  ...shapeRules,
  ...resizeRules,
  ...quantizationRules,
};

export const CONTRIB_RULES: Readonly<Record<string, GradRule>> = contribRules;

/** Whether a node's domain is ONNX's default operator set. */
export function isOnnxDomain(domain: string | undefined): boolean {
  return !domain || domain === 'ai.onnx';
}

/**
 * The backward rule of a node: a policy's override (guided ReLU replaces `Relu`, also where
 * ONNX Runtime fused it into a FusedConv/FusedGemm), else the registry entry of its domain.
 */
export function lookupRule(node: Pick<Node, 'domain' | 'opType' | 'attrs'>, overrides?: Partial<Record<string, GradRule>>): GradRule | undefined {
  if (isOnnxDomain(node.domain)) return overrides?.[node.opType] ?? RULES[node.opType];
  if (node.domain !== MICROSOFT_DOMAIN) return undefined;
  const activationRule = overrides?.[getString(node.attrs, 'activation', '')];
  if (activationRule && (node.opType === 'FusedConv' || node.opType === 'FusedGemm')) return fusedWithActivationRule(node.opType, activationRule);
  return CONTRIB_RULES[node.opType];
}

/** Every registered rule as (domain, op type): what the coverage test walks. */
export function registeredRules(): { domain: string; opType: string }[] {
  return [
    ...Object.keys(RULES).map((opType) => ({ domain: '', opType })),
    ...Object.keys(CONTRIB_RULES).map((opType) => ({ domain: MICROSOFT_DOMAIN, opType })),
  ];
}

/**
 * Ops whose outputs are integer/boolean or piecewise constant: the forward walk stops here
 * (shape arithmetic, masks, comparisons, index computations).
 */
export const NON_DIFFERENTIABLE: ReadonlySet<string> = new Set([
  'Shape',
  'Size',
  'Constant',
  'ConstantOfShape',
  'Range',
  'Equal',
  'Not',
  'Mod',
  'Less',
  'Greater',
  'LessOrEqual',
  'GreaterOrEqual',
  'And',
  'Or',
  'Xor',
  'NonZero',
  'ArgMax',
  'ArgMin',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'OneHot',
  'EyeLike',
  'RandomNormal',
  'RandomUniform',
  'RandomNormalLike',
  'RandomUniformLike',
]);
