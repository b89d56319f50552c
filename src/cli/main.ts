// The `saliency` command: serve, worker, compile, explain, bench, openapi. Each subcommand returns
// an exit code; errors print one line on stderr.
import { writeFileSync } from 'node:fs';
import { runBench } from './bench.js';
import { runCompile } from './compile.js';
import { runExplain } from './explain.js';
import { runModels } from './models.js';
import { UsageError, parseFlags } from './flags.js';
import { COMMAND_HELP, USAGE, version, wantsHelp } from './help.js';

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  serve: async (args) => {
    parseBooleanFlags(args, []);
    const { serveUntilSignalled } = await import('../gateway/server.js');
    await serveUntilSignalled();
    return 0;
  },
  worker: async (args) => {
    const flags = parseBooleanFlags(args, ['health']);
    if (flags.has('health')) {
      const [{ loadConfig }, { checkHeartbeat }] = await Promise.all([import('../config/config.js'), import('../worker/heartbeat.js')]);
      const problem = checkHeartbeat(loadConfig().WORKER_HEARTBEAT_FILE);
      if (problem) process.stderr.write(`saliency worker: unhealthy: ${problem}\n`);
      return problem ? 1 : 0;
    }
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
    const topic = command === 'help' ? rest[0] : undefined;
    process.stdout.write((topic && COMMAND_HELP[topic]) || USAGE);
    return command ? 0 : 1;
  }
  if (command === '--version' || command === '-V' || command === 'version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const run = COMMANDS[command];
  if (!run) {
    process.stderr.write(`saliency: unknown command '${command}'; run saliency --help\n`);
    return 2;
  }
  if (wantsHelp(rest)) {
    process.stdout.write(COMMAND_HELP[command] ?? USAGE);
    return 0;
  }
  try {
    return await run(rest);
  } catch (err) {
    const e = err as Error;
    // Our compile errors are a few short lines (one per op type), also when onboarding a model
    // reports one; anything else: its first line.
    const text = e.name === 'CompileError' || e.name === 'OnboardError' ? e.message : e.message.split('\n')[0];
    process.stderr.write(`saliency ${command}: ${e.name === 'Error' ? '' : `${e.name}: `}${text}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
}

/** Boolean flags only (serve and worker take their settings from the environment). */
function parseBooleanFlags(args: string[], names: readonly string[]): Set<string> {
  const set = new Set<string>();
  for (const arg of args) {
    const name = arg.replace(/^--/, '');
    if (!arg.startsWith('--') || !names.includes(name)) throw new UsageError(`unknown option '${arg}'; run saliency --help`);
    set.add(name);
  }
  return set;
}
