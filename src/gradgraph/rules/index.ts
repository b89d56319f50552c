// The rule registry: op type → backward rule, and the ops whose outputs carry no gradient.
import { type GradRule } from '../rule.js';
import { activationRules } from './activations.js';
import { convolutionRules } from './convolution.js';
import { elementwiseRules } from './elementwise.js';
import { linearAlgebraRules } from './linear-algebra.js';
import { normalizationRules } from './normalization.js';
import { poolingRules } from './pooling.js';
import { reductionRules } from './reduction.js';
import { shapeRules } from './shape-ops.js';
import { softmaxRules } from './softmax.js';

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
};

/**
 * Ops whose outputs are integer/boolean or piecewise constant: the forward walk stops here
 * (shape arithmetic, masks, comparisons, index computations).
 */
export const NON_DIFFERENTIABLE: ReadonlySet<string> = new Set([
  'Shape', 'Size', 'Constant', 'ConstantOfShape', 'Range', 'Equal', 'Not', 'Mod', 'Less', 'Greater',
  'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor', 'NonZero', 'ArgMax', 'ArgMin', 'Floor', 'Ceil',
  'Round', 'Sign', 'OneHot', 'EyeLike', 'RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike',
]);
