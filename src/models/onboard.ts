// Onboarding a model: from an ONNX file to a model folder the service serves. The manifest comes
// from what the model says (inspect-model), the conventions it cannot say (normalisation, labels)
// are ImageNet's for 1000-class models and are reported as assumptions; the model is compiled
// once and its gradient self-checked against finite differences before the report is written.
// Running graphs is the caller's: `open` comes from the runtime layer (the CLI passes it).
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { type ModelContext } from '../methods/context.js';
import { modelFromProto } from '../onnx/ir.js';
import { decodeModel, type ModelProto } from '../onnx/proto.js';
import { IMAGENET_LABELS } from './imagenet-labels.js';
import { type CamLayerChoice, chooseCamLayer, type InputFacts, inspectInput } from './inspect-model.js';
import { type Manifest } from './manifest.js';
import { compileCheck, checkOpened, inspectOpened } from './model-check.js';
import { type ModelFacts, factLines, factsSummary, modelFactsOf } from './model-facts.js';
import { problemOf, type ModelProblem } from './model-problem.js';
import { type ModelEntry, ModelRegistry, loadModelEntry } from './registry.js';
import { DIRECTIONS, type PointsCheck, type SelfCheckResult, selfCheck } from './self-check.js';

export class OnboardError extends Error {
  override name = 'OnboardError';
}

export type OpenedContext = ModelContext & { close(): Promise<void> };

/** Opens a model file for running (the runtime's openModelContext, given by the caller). */
export type OpenModel = (path: string, options: { input: string; inputShape: number[]; pixelRange: ModelContext['pixelRange']; layout: ModelContext['layout'] }) => Promise<OpenedContext>;

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];
/** ImageNet evaluation resizes the shorter side to size/0.875 (256 for 224), then centre-crops. */
const CROP_RATIO = 0.875;

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface AddOptions {
  path: string;
  modelsDir: string;
  name?: string;
  labels?: string;
  force?: boolean;
  /** Spatial size for models whose input H and W are symbolic (default 224×224). */
  size?: [number, number];
  open: OpenModel;
}

export interface AddReport {
  id: string;
  dir: string;
  manifest: Manifest;
  input: InputFacts;
  classes: number;
  labels: string[] | undefined;
  cam: CamLayerChoice;
  compile: { nodesOnPath: number; nodesAdded: number; opsSeen: string[]; explained: string; opset: number };
  /** What was assumed rather than read from the model. */
  assumed: string[];
  /** What the model said that the user should know. */
  notes: string[];
  check: SelfCheckResult;
  /** How the service runs it: batching, opset, precision, gradient approximations. */
  facts: ModelFacts;
}

/** A folder name from a file name: the id rule (letters, digits, . _ -), lower-cased. */
export function idFromFile(path: string): string {
  const stem = basename(path).replace(/\.onnx$/i, '');
  const id = stem.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 64);
  return id || 'model';
}

function externalFiles(proto: ModelProto): string[] {
  const files = new Set<string>();
  for (const t of proto.graph?.initializer ?? []) {
    if (t.dataLocation !== 1) continue; // TensorProto.DataLocation.EXTERNAL
    const location = t.externalData?.find((e) => e.key === 'location')?.value;
    if (location) files.add(location);
  }
  return [...files];
}

function readLabels(path: string): string[] {
  if (!existsSync(path)) throw new OnboardError(`labels file ${path} does not exist`);
  return readFileSync(path, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
}

function pixelRangeOf(mean: number[], std: number[]): { black: number[]; white: number[] } {
  return { black: mean.map((m, c) => (0 - m) / (std[c] as number)), white: mean.map((m, c) => (1 - m) / (std[c] as number)) };
}

function onboardError(err: unknown, what: string): OnboardError {
  if (err instanceof OnboardError) return err;
  return new OnboardError(`${what}: ${problemOf(err).reason}`);
}

/** Inspects, compiles, installs and self-checks one model. Throws OnboardError with what to do. */
export async function addModel(options: AddOptions): Promise<AddReport> {
  const { path } = options;
  if (!existsSync(path)) throw new OnboardError(`${path} does not exist`);
  let proto: ModelProto;
  try {
    proto = decodeModel(readFileSync(path)); // external data stays referenced: it is copied below
  } catch (err) {
    throw new OnboardError(`${path} is not an ONNX model (${(err as Error).message.replace(/^not an ONNX model: /, '')})`);
  }
  const id = options.name ?? idFromFile(path);
  if (!ID.test(id)) throw new OnboardError(`--name ${id} must be letters, digits, '.', '_' or '-' (at most 64, starting with a letter or digit)`);
  const dir = join(options.modelsDir, id);
  if (existsSync(dir) && !options.force) throw new OnboardError(`${dir} already exists; pass --force to replace it, or --name to choose another name`);
  const external = externalFiles(proto);
  for (const file of external) {
    if (!existsSync(join(dirname(path), file))) throw new OnboardError(`the model keeps its weights in ${file}, which is not beside ${path}`);
  }

  const inspectOptions = options.size ? { size: options.size } : {};
  let model;
  try {
    model = modelFromProto(decodeModel(readFileSync(path), dirname(path)));
  } catch (err) {
    throw onboardError(err, `cannot read ${path}`);
  }
  let input: InputFacts;
  try {
    input = inspectInput(model, inspectOptions);
  } catch (err) {
    throw new OnboardError((err as Error).message);
  }
  const assumed: string[] = [];
  const notes = [...input.notes];
  const mean = input.channels === 3 ? IMAGENET_MEAN : [0];
  const std = input.channels === 3 ? IMAGENET_STD : [1];

  // Compile once: the probe (the runtime runs the model at this size) and the gradient graph.
  let ctx: OpenedContext;
  try {
    ctx = await options.open(path, { input: input.name, inputShape: input.sampleShape, pixelRange: pixelRangeOf(mean, std), layout: input.layout });
  } catch (err) {
    const fixed = typeof input.batch === 'number' ? ` (its batch dimension is fixed at ${input.batch}: export it with a symbolic batch, e.g. torch.onnx.export(…, dynamic_axes={'${input.name}': {0: 'N'}}))` : '';
    throw onboardError(err, `cannot run ${path} at [${input.sampleShape.join(',')}]${fixed}`);
  }
  try {
    let checked;
    try {
      checked = compileCheck(ctx);
    } catch (err) {
      // The compiler's message is a few short lines (one per op type): the CLI prints them all.
      if (err instanceof Error && err.name === 'CompileError') throw err;
      throw new OnboardError(problemOf(err).reason);
    }
    const { compiled, classes } = checked;
    const outputs = model.graph.outputs;
    if (outputs.length > 1) notes.push(`the model has ${outputs.length} outputs (${outputs.map((o) => o.name).join(', ')}): the first is explained`);
    const output = outputs[0]?.name ?? compiled.explained;
    const kind = compiled.explained === output ? 'logits' : 'probabilities';
    if (kind === 'probabilities') notes.push(`${output} is a Softmax: explanations use its input ${compiled.explained} (the logits)`);

    let labels: string[] | undefined;
    if (options.labels) {
      labels = readLabels(options.labels);
      if (labels.length !== classes) throw new OnboardError(`${options.labels} has ${labels.length} labels but the model has ${classes} classes (one label per line)`);
    } else if (classes === 1000) {
      labels = [...IMAGENET_LABELS];
      assumed.push('labels: the 1000 ImageNet classes (torchvision order); pass --labels F for others');
    } else if (classes === 1001) {
      labels = ['background', ...IMAGENET_LABELS];
      assumed.push("labels: 'background' + the 1000 ImageNet classes (TensorFlow's 1001-class convention); pass --labels F for others");
    } else {
      assumed.push(`labels: none (${classes} classes); add labels.txt (${classes} lines) and "labels": "labels.txt" to name them`);
    }
    if (input.channels === 3) {
      assumed.push(`normalisation: ImageNet mean [${IMAGENET_MEAN.join(', ')}], std [${IMAGENET_STD.join(', ')}] on pixels in [0,1]${input.layout === 'NHWC' ? '; NHWC models often come from TensorFlow/Keras, which may scale to [-1,1] (mean 0.5, std 0.5) or use caffe-style [0,255]' : ''}`);
    } else {
      assumed.push('normalisation: none (mean 0, std 1 on pixels in [0,1])');
    }
    const shorter = Math.round(Math.min(...input.size) / CROP_RATIO);
    assumed.push(`resize: shorter side to ${shorter}, centre crop ${input.size[0]}×${input.size[1]} (ImageNet evaluation)`);

    const cam = chooseCamLayer(model, ctx.facts, input);
    const manifest: Manifest = {
      name: id,
      description: `${basename(path)}, added by saliency models add`,
      file: 'model.onnx',
      input: {
        name: input.name,
        layout: input.layout,
        size: input.size,
        channels: input.channels,
        resize: { mode: 'resize-crop', shorter },
        range: [0, 1],
        mean,
        std,
      },
      ...(labels ? { labels: 'labels.txt' } : {}),
      output: { name: output, kind },
      ...(cam.layer ? { gradCamLayer: cam.layer } : {}),
    };

    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    copyFileSync(path, join(dir, 'model.onnx'));
    for (const file of external) {
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      copyFileSync(join(dirname(path), file), join(dir, file));
    }
    if (labels) writeFileSync(join(dir, 'labels.txt'), `${labels.join('\n')}\n`);
    writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    // What the service will read: the folder must load as a registry entry.
    const entry = loadModelEntry(id, dir);
    const problem = checkOpened(ctx, entry);
    if (problem) throw new OnboardError(problem.reason);

    const facts = modelFactsOf(ctx, compiled);
    // The file's constant batch, and what loading made of it (relax-batch.ts).
    const fixedNote = notes.findIndex((n) => n.startsWith('the batch dimension is fixed at'));
    if (fixedNote >= 0 && facts.batching === 'dynamic') notes[fixedNote] = `the file fixes the batch dimension at ${String(input.batch)}; the service makes it symbolic and runs any batch size`;
    const check = await selfCheck(ctx, { pixelRange: ctx.pixelRange, batch: facts.batching === 'fixed' ? (facts.fixedBatch ?? 1) : 8, approximations: facts.approximations });
    const s = compiled.summary;
    return {
      id,
      dir,
      manifest: entry.manifest,
      input,
      classes,
      labels,
      cam,
      compile: { nodesOnPath: s.nodesOnPath, nodesAdded: s.nodesAdded, opsSeen: s.opsSeen, explained: compiled.explained, opset: model.opset },
      assumed,
      notes,
      check,
      facts,
    };
  } finally {
    await ctx.close();
  }
}

/** Opens an installed model the way the service does (manifest input, size, normalisation). */
export type OpenEntry = (entry: ModelEntry) => Promise<OpenedContext>;

export interface CheckLine {
  id: string;
  problem?: ModelProblem;
  check?: SelfCheckResult;
  facts?: ModelFacts;
}

/** Compile + self-check of every model folder under `modelsDir`, in folder order. */
export async function checkModels(modelsDir: string, open: OpenEntry): Promise<CheckLine[]> {
  const registry = ModelRegistry.scan(modelsDir);
  const lines: CheckLine[] = registry.unavailable().map((u) => ({ id: u.id, problem: { code: u.code, reason: u.reason } }));
  for (const entry of registry.list()) {
    let ctx: OpenedContext;
    try {
      ctx = await open(entry);
    } catch (err) {
      lines.push({ id: entry.id, problem: problemOf(err) });
      continue;
    }
    try {
      const { problem, facts } = inspectOpened(ctx, entry);
      if (problem) {
        lines.push({ id: entry.id, problem });
        continue;
      }
      const check = await selfCheck(ctx, { pixelRange: ctx.pixelRange, batch: ctx.fixedBatch ?? 8, approximations: facts?.approximations });
      lines.push({ id: entry.id, check, ...(facts ? { facts } : {}) });
    } catch (err) {
      lines.push({ id: entry.id, problem: problemOf(err) });
    } finally {
      await ctx.close();
    }
  }
  return lines.sort((a, b) => a.id.localeCompare(b.id));
}

const sci = (v: number) => v.toExponential(1);

/** Why a self-check of a model whose gradient is approximate (QDQ: straight-through) fails. */
const APPROXIMATE = 'expected for this model: its gradient is an approximation (see "gradient" above) that finite differences of its quantised, piecewise-constant forward pass cannot confirm';

/** The warning of a model whose only discrepancy is its stated approximation. */
const WARNING = 'warning: the gradient is the straight-through approximation, unconfirmed by finite differences of the quantised model; the rest of its gradient checks out on the graph without rounding';

/** Relative errors of a check's points, along ∇ and along the random directions. */
function pointErrors(c: PointsCheck): string {
  return `along ∇ ${c.points.map((p) => sci(p.alongGradient.relErr)).join(', ')} (limit ${c.thresholds.gradient}), random directions ${c.points.map((p) => sci(p.random.relErr)).join(', ')} (limit ${c.thresholds.random})`;
}

/** The report's lines on the graph without rounding, for a model whose own check failed on an approximate gradient. */
function withoutRoundingLines(c: SelfCheckResult): string[] {
  const w = c.withoutRounding;
  if (!w) return [];
  if ('unavailable' in w) return [`  the graph without rounding cannot be checked: ${w.unavailable}`];
  return [
    '',
    `the same graph without rounding (${w.pairs} QuantizeLinear→DequantizeLinear pair${w.pairs === 1 ? '' : 's'} as the clamps they are without Round), what finite differences can check:`,
    ...w.check.points.map(
      (p, i) =>
        `  point ${i + 1}: relative error along ∇ ${sci(p.alongGradient.relErr)}, along ${DIRECTIONS} random directions ${sci(p.random.relErr)}; ` +
        `the model's straight-through gradient differs from this one by ${sci(p.versusModel ?? NaN)} (relative)`,
    ),
    `  ${w.check.passed ? 'PASS' : 'FAIL'}: worst ${sci(w.check.worst.gradient)} (limit ${w.check.thresholds.gradient}) and ${sci(w.check.worst.random)} (limit ${w.check.thresholds.random})`,
    ...(c.verdict === 'approximate' ? [WARNING] : ['  the gradient disagrees with the forward model beyond its approximation: do not trust its explanations; the folder is kept for inspection']),
  ];
}

/** A path as the user would type it: relative below the working directory, absolute elsewhere. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}

/** The one readable block `models add` prints. */
export function formatAddReport(r: AddReport, modelsDir: string): string {
  const m = r.manifest;
  const lines = [
    `added ${r.id} → ${shown(r.dir)}`,
    '',
    'found in the model:',
    `  input      ${m.input.name}  ${m.input.layout}, ${m.input.channels} channel${m.input.channels === 1 ? '' : 's'}, ${m.input.size[0]}×${m.input.size[1]}`,
    `  output     ${m.output.name} (${m.output.kind}), ${r.classes} classes; explained tensor ${r.compile.explained}`,
    `  opset      ${r.compile.opset}; ${r.compile.nodesOnPath} nodes differentiated (${r.compile.opsSeen.join(' ')}), ${r.compile.nodesAdded} gradient nodes`,
    `  Grad-CAM   ${r.cam.layer ? r.cam.note : `(none) ${r.cam.note}`}`,
    ...factLines(r.facts).map(([label, text]) => `  ${label.padEnd(10)} ${text}`),
    ...r.notes.map((n) => `  note       ${n}`),
    '',
    'assumed (not in the file — check these):',
    ...r.assumed.map((a) => `  ${a}`),
    '',
    `self-check (gradient vs finite differences of the forward pass, ${r.check.points.length} random images):`,
    ...r.check.points.map(
      (p, i) =>
        `  point ${i + 1}: target ${p.target}${r.labels?.[p.target] ? ` (${r.labels[p.target]})` : ''}, ‖∇‖ ${p.gradNorm.toPrecision(3)}; ` +
        (p.flat
          ? 'the target logit does not change with the input here (nothing to check; its maps would be blank)'
          : `relative error along ∇ ${sci(p.alongGradient.relErr)}, along ${DIRECTIONS} random directions ${sci(p.random.relErr)}`),
    ),
    r.check.points.every((p) => p.flat)
      ? '  FAIL: the model ignores its input at random images (untrained, or saturated?); the folder is kept'
      : `  ${r.check.passed ? 'PASS' : r.facts.approximations ? 'NOT CONFIRMED' : 'FAIL'}: worst ${sci(r.check.worst.gradient)} (limit ${r.check.thresholds.gradient}) and ${sci(r.check.worst.random)} (limit ${r.check.thresholds.random})` +
        (r.check.passed ? '' : r.facts.approximations ? ` — ${APPROXIMATE}` : ' — the gradient disagrees with the forward model: do not trust its explanations; the folder is kept for inspection'),
    ...withoutRoundingLines(r.check),
    '',
    `edit ${shown(join(r.dir, 'manifest.json'))} if an assumption is wrong (input.mean/std/range, input.size, input.resize, labels, gradCamLayer),`,
    `then run: saliency models check --models-dir ${shown(modelsDir)}   and send SIGHUP to a running server to load it.`,
  ];
  return `${lines.join('\n')}\n`;
}

/** One line per model for `models check`. */
export function formatCheckLine(line: CheckLine): string {
  // One line per model: a multi-line reason (the compiler's, one line per op type) is joined.
  if (line.problem) return `FAIL  ${line.id}: ${line.problem.code}: ${line.problem.reason.split('\n').map((l) => l.trim()).filter(Boolean).join('; ')}`;
  const c = line.check as SelfCheckResult;
  if (c.points.every((p) => p.flat)) return `FAIL  ${line.id}: the target logit does not change with the input at random images (nothing to check)`;
  const f = line.facts;
  const how = f ? ` [${factsSummary(f)}]` : '';
  const w = c.withoutRounding;
  const free = w && 'check' in w ? `; without rounding: ${pointErrors(w.check)}` : w ? `; the graph without rounding cannot be checked: ${w.unavailable}` : '';
  const expected = !c.passed && f?.approximations ? ` (${APPROXIMATE.replace(' (see "gradient" above)', '')})` : '';
  const warning = c.verdict === 'approximate' ? ` — ${WARNING}` : '';
  return `${c.verdict === 'fail' ? 'FAIL' : 'ok  '}  ${line.id}${how}${expected}: self-check relative error ${pointErrors(c)}${free}${warning}`;
}
