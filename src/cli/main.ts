// The `saliency` command: serve, worker, compile, explain, bench, openapi. Each subcommand returns
// an exit code; errors print one line on stderr.
import { writeFileSync } from 'node:fs';
import { runBench } from './bench.js';
import { runCompile } from './compile.js';
import { runExplain } from './explain.js';
import { runModels } from './models.js';
import { UsageError, parseFlags } from './flags.js';

const USAGE = `usage: saliency <command> [options]

commands:
  serve
      the HTTP API (port 8080; environment variables in README); jobs run in-process unless REDIS_URL is set
  worker
      a worker process consuming the queue at REDIS_URL
  openapi [--output openapi/openapi.json]
      write the OpenAPI document generated from the routes
  compile --model M.onnx --output G.onnx [--input-shape 3,224,224]
      write the gradient model (inputs: the model input and 'seed'; outputs: logits and grad_<input>)
  explain --model M.onnx --input X.npy --method gradient [--target 3 | --target 3,7] --output A.npy
      gradient of the target logit per sample (default target: argmax per sample); prints one JSON line
  models add PATH.onnx [--name N] [--labels F] [--size H,W] [--models-dir D] [--force]
      install a model: infer its manifest, compile it, self-check its gradient; prints what to edit
  models check [--models-dir D]
      compile and self-check every installed model, one line each; exit code 1 if any fails
  bench [gradient]
      time the gradient graph against the forward pass (see README)
`;

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  serve: async () => {
    const { serveUntilSignalled } = await import('../gateway/server.js');
    await serveUntilSignalled();
    return 0;
  },
  worker: async () => {
    const { runWorker } = await import('../worker/run-worker.js');
    await runWorker();
    return 0;
  },
  openapi: async (args) => {
    const { generateOpenapi } = await import('../gateway/openapi-document.js');
    const flags = parseFlags(args, ['output'], []);
    const text = await generateOpenapi();
    if (flags['output']) writeFileSync(flags['output'], text);
    else process.stdout.write(text);
    return 0;
  },
  compile: runCompile,
  explain: runExplain,
  bench: runBench,
  models: runModels,
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command ? 0 : 1;
  }
  const run = COMMANDS[command];
  if (!run) {
    process.stderr.write(`saliency: unknown command '${command}'\n${USAGE}`);
    return 2;
  }
  try {
    return await run(rest);
  } catch (err) {
    const e = err as Error;
    // Our compile errors are a few short lines (one per op type); anything else: its first line.
    const text = e.name === 'CompileError' ? e.message : e.message.split('\n')[0];
    process.stderr.write(`saliency ${command}: ${e.name === 'Error' ? '' : `${e.name}: `}${text}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
}
