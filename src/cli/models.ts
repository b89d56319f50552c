// `saliency models add PATH.onnx` and `saliency models check`: onboarding lives in src/models
// (onboard.ts); this file parses flags, hands it the runtime's way of opening a model, and prints.
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/config.js';
import { addModel, checkModels, formatAddReport, formatCheckLine } from '../models/onboard.js';
import { openModelContext } from '../runtime/model-context.js';
import { openEntry } from '../worker/model-contexts.js';
import { UsageError } from './flags.js';

const USAGE =
  'usage: saliency models add PATH.onnx [--name N] [--labels F] [--size H,W] [--models-dir D] [--force]\n       saliency models check [--models-dir D]';

interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

function parse(args: string[], booleans: string[], strings: string[]): Parsed {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const n of booleans) options[n] = { type: 'boolean' };
  for (const n of strings) options[n] = { type: 'string' };
  try {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, strict: true, options });
    return { values: values as Parsed['values'], positionals };
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${USAGE}`);
  }
}

function parseSize(text: string | undefined): [number, number] | undefined {
  if (text === undefined) return undefined;
  const dims = text.split(',').map(Number);
  if (dims.length !== 2 || dims.some((d) => !Number.isInteger(d) || d <= 0)) throw new UsageError(`--size must be H,W like 224,224, got ${text}`);
  return dims as [number, number];
}

async function add(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, ['force'], ['name', 'labels', 'size', 'models-dir']);
  if (positionals.length !== 1) throw new UsageError(`models add takes one model file\n${USAGE}`);
  const config = loadConfig();
  const modelsDir = (values['models-dir'] as string | undefined) ?? config.MODELS_DIR;
  const threads = config.ORT_THREADS || undefined;
  const report = await addModel({
    path: positionals[0] as string,
    modelsDir,
    name: values['name'] as string | undefined,
    labels: values['labels'] as string | undefined,
    size: parseSize(values['size'] as string | undefined),
    force: values['force'] === true,
    open: (path, options) => openModelContext(path, { ...options, threads }),
  });
  process.stdout.write(formatAddReport(report, modelsDir));
  return report.check.verdict === 'fail' ? 1 : 0;
}

async function check(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, [], ['models-dir']);
  if (positionals.length > 0) throw new UsageError(`models check takes no file\n${USAGE}`);
  const config = loadConfig();
  const modelsDir = (values['models-dir'] as string | undefined) ?? config.MODELS_DIR;
  const lines = await checkModels(modelsDir, (entry) => openEntry(config, entry));
  if (lines.length === 0) process.stdout.write(`no models in ${modelsDir}\n`);
  for (const line of lines) process.stdout.write(`${formatCheckLine(line)}\n`);
  return lines.every((l) => !l.problem && l.check && l.check.verdict !== 'fail') ? 0 : 1;
}

export async function runModels(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'add') return add(rest);
  if (sub === 'check') return check(rest);
  throw new UsageError(`unknown models command '${sub ?? ''}'\n${USAGE}`);
}
