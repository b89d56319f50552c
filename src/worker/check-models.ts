// The service's model check: every model of a registry is opened and compiled once in a worker
// thread (off the gateway's event loop), and those that cannot serve are marked unavailable with
// their reason. Verdicts are remembered per file hash and manifest, so a rescan checks only
// folders that are new or changed.
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type Config } from '../config/config.js';
import { type ModelProblem } from '../models/model-problem.js';
import { type ModelEntry, ModelRegistry } from '../models/registry.js';
import { type CheckThreadData } from './model-check-thread.js';

const THREAD_FILE = fileURLToPath(new URL('./model-check-thread.js', import.meta.url));

type Verdict = ModelProblem | undefined;

/** Checks entries in one thread; a thread that dies takes only the model it was on with it. */
function checkInThread(config: Config, entries: ModelEntry[]): Promise<Map<string, Verdict>> {
  const verdicts = new Map<string, Verdict>();
  return new Promise((resolve) => {
    const worker = new Worker(THREAD_FILE, { workerData: { config, entries } satisfies CheckThreadData });
    let failure: Error | undefined;
    worker.on('message', (msg: { id: string; problem?: ModelProblem }) => verdicts.set(msg.id, msg.problem));
    worker.on('error', (err) => (failure = err));
    worker.on('exit', () => {
      const rest = entries.filter((e) => !verdicts.has(e.id));
      if (rest.length === 0) return resolve(verdicts);
      const [crashed, ...others] = rest as [ModelEntry, ...ModelEntry[]];
      verdicts.set(crashed.id, { code: 'SALIENCY_MODEL_UNSUPPORTED', reason: `checking the model stopped the runtime: ${failure?.message ?? 'the check thread exited'}` });
      void checkInThread(config, others).then((more) => resolve(new Map([...verdicts, ...more])));
    });
  });
}

const verdictKey = (e: ModelEntry) => `${e.id}:${e.hash}:${JSON.stringify(e.manifest)}:${e.labels?.length ?? 0}`;

export interface ModelChecker {
  /** Scans MODELS_DIR and checks what changed; the returned registry has the verdicts applied. */
  scan(previous?: ModelRegistry): Promise<ModelRegistry>;
}

export function createModelChecker(config: Config): ModelChecker {
  const known = new Map<string, Verdict>();
  return {
    async scan(previous) {
      const registry = ModelRegistry.scan(config.MODELS_DIR, previous);
      const fresh = registry.list().filter((e) => !known.has(verdictKey(e)));
      if (fresh.length > 0) {
        const verdicts = await checkInThread(config, fresh);
        for (const e of fresh) known.set(verdictKey(e), verdicts.get(e.id));
      }
      const problems = new Map<string, ModelProblem>();
      for (const e of registry.list()) {
        const verdict = known.get(verdictKey(e));
        if (verdict) problems.set(e.id, verdict);
      }
      registry.markUnavailable(problems);
      return registry;
    },
  };
}
