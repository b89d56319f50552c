export { compileGradient, gradName, inputGradient, SEED, type CompileOptions, type CompileResult, type DerivativeTensor } from './compile.js';
export { type BackwardPolicy } from './policy.js';
export { CompileError, type GradRule, type RuleContext } from './rule.js';
export { RULES, NON_DIFFERENTIABLE } from './rules/index.js';
