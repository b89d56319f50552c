// Whether an installed model can serve: it loads, the runtime runs it at the manifest's input
// size, the compiler has a rule for every op on the path, and its explained output is
// [batch, classes] with as many labels as classes. What fails becomes a ModelProblem.
import { compileFor, type ModelContext } from '../methods/context.js';
import { classCount } from '../methods/targets.js';
import { type CompileResult } from '../gradgraph/index.js';
import { type ModelFacts, modelFactsOf } from './model-facts.js';
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

/** The check's outcome: the problem of a model that cannot serve, or the facts of one that can. */
export interface ModelVerdict {
  problem?: ModelProblem;
  facts?: ModelFacts;
}

/** Checks an opened model (compile, output shape, label count) and collects its facts. */
export function inspectOpened(ctx: ModelContext, entry: ModelEntry): ModelVerdict {
  let checked: CompileCheck;
  try {
    checked = compileCheck(ctx);
  } catch (err) {
    return { problem: problemOf(err) };
  }
  const { classes } = checked;
  if (entry.labels && entry.labels.length !== classes) {
    return { problem: { code: 'SALIENCY_MODEL_INVALID', reason: `${entry.manifest.labels ?? 'the labels file'} has ${entry.labels.length} labels but the model has ${classes} classes; fix the file (one label per line)` } };
  }
  return { facts: modelFactsOf(ctx, checked.compiled) };
}

/** The problem of an opened model, if any (compile, output shape, label count). */
export function checkOpened(ctx: ModelContext, entry: ModelEntry): ModelProblem | undefined {
  return inspectOpened(ctx, entry).problem;
}

/** What a verdict holds for: the model file, its manifest and its label count. */
export const verdictKey = (e: ModelEntry): string => `${e.id}:${e.hash}:${JSON.stringify(e.manifest)}:${e.labels?.length ?? 0}`;

/** A verdict and the key it holds for (see verdictKey). */
export interface CheckedModel {
  key: string;
  verdict: ModelVerdict;
}

/**
 * Opens a model with `open` (the runtime's, given by the caller) and checks it. The context is
 * closed unless `keep` (a job thread's contexts, which its warm-up and jobs go on using).
 */
export async function checkModel<C extends ModelContext & { close(): Promise<void> }>(
  entry: ModelEntry,
  open: (entry: ModelEntry) => Promise<C>,
  keep = false,
): Promise<ModelVerdict> {
  let ctx: C;
  try {
    ctx = await open(entry);
  } catch (err) {
    return { problem: problemOf(err) };
  }
  try {
    return inspectOpened(ctx, entry);
  } finally {
    if (!keep) await ctx.close();
  }
}
