// Whether an installed model can serve: it loads, the runtime runs it at the manifest's input
// size, the compiler has a rule for every op on the path, and its explained output is
// [batch, classes] with as many labels as classes. What fails becomes a ModelProblem.
import { compileFor, type ModelContext } from '../methods/context.js';
import { classCount } from '../methods/targets.js';
import { type CompileResult } from '../gradgraph/index.js';
import { type ModelProblem, problemOf } from './model-problem.js';
import { type ModelEntry } from './registry.js';

export interface CompileCheck {
  compiled: CompileResult;
  classes: number;
}

/** Compiles the standard gradient once and checks the explained output; throws what fails. */
export function compileCheck(ctx: ModelContext): CompileCheck {
  const compiled = compileFor(ctx, 'standard');
  const classes = classCount(ctx.facts.shapes.get(compiled.explained));
  return { compiled, classes };
}

/** The problem of an opened model, if any (compile, output shape, label count). */
export function checkOpened(ctx: ModelContext, entry: ModelEntry): ModelProblem | undefined {
  let classes: number;
  try {
    ({ classes } = compileCheck(ctx));
  } catch (err) {
    return problemOf(err);
  }
  if (entry.labels && entry.labels.length !== classes) {
    return { code: 'SALIENCY_MODEL_INVALID', reason: `${entry.manifest.labels ?? 'the labels file'} has ${entry.labels.length} labels but the model has ${classes} classes; fix the file (one label per line)` };
  }
  return undefined;
}

/** Opens a model with `open` (the runtime's, given by the caller) and checks it; always closes. */
export async function checkModel<C extends ModelContext & { close(): Promise<void> }>(entry: ModelEntry, open: (entry: ModelEntry) => Promise<C>): Promise<ModelProblem | undefined> {
  let ctx: C;
  try {
    ctx = await open(entry);
  } catch (err) {
    return problemOf(err);
  }
  try {
    return checkOpened(ctx, entry);
  } finally {
    await ctx.close();
  }
}
