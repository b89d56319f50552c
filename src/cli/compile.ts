import { existsSync } from 'node:fs';
import { modelToProto } from '../onnx/ir.js';
import { encodeModel } from '../onnx/proto.js';
import { compileGradient } from '../gradgraph/index.js';
import { loadModel } from '../runtime/gradient-model.js';
import { UsageError, parseFlags, parseShape, writeOutput } from './flags.js';

export async function runCompile(args: string[]): Promise<number> {
  const flags = parseFlags(args, ['model', 'output', 'input-shape'], ['model', 'output']);
  const path = flags['model'] as string;
  if (!existsSync(path)) throw new UsageError(`model file ${path} does not exist`);
  const loaded = await loadModel(path, { inputShape: parseShape(flags['input-shape']) });
  const result = compileGradient(loaded.model, { facts: loaded.facts, input: loaded.input });
  writeOutput(flags['output'] as string, encodeModel(modelToProto(result.model)));
  const s = result.summary;
  process.stdout.write(
    `compiled ${path}: ${s.nodesOnPath} nodes differentiated (ops: ${s.opsSeen.join(' ')}), ${s.nodesAdded} nodes added; ` +
      `inputs: ${s.inputs.join(', ')}; outputs: ${s.outputs.join(', ')}\n`,
  );
  return 0;
}
