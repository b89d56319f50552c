// The service's model check: every model of a registry is opened and compiled once in a worker
// thread (off the gateway's event loop), and those that cannot serve are marked unavailable with
// their reason; those that can get the facts of how they run (batching, opset, precision,
// approximations) for the catalogue. Verdicts are remembered per file hash and manifest, so a rescan checks only
// folders that are new or changed.
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type Config } from '../config/config.js';
import { type CheckedModel, type ModelVerdict, verdictKey } from '../models/model-check.js';
import { type ModelFacts } from '../models/model-facts.js';
import { type ModelProblem } from '../models/model-problem.js';
import { type ModelEntry, ModelRegistry } from '../models/registry.js';
import { type CheckThreadData } from './model-check-thread.js';

const THREAD_FILE = fileURLToPath(new URL('./model-check-thread.js', import.meta.url));

type Verdict = ModelVerdict;

/** Checks entries in one thread; a thread that dies takes only the model it was on with it. */
function checkInThread(config: Config, entries: ModelEntry[]): Promise<Map<string, Verdict>> {
  const verdicts = new Map<string, Verdict>();
  return new Promise((resolve) => {
    const worker = new Worker(THREAD_FILE, { workerData: { config, entries } satisfies CheckThreadData });
    let failure: Error | undefined;
    worker.on('message', ({ id, ...verdict }: ModelVerdict & { id: string }) => verdicts.set(id, verdict));
    worker.on('error', (err) => (failure = err));
    worker.on('exit', () => {
      const rest = entries.filter((e) => !verdicts.has(e.id));
      if (rest.length === 0) return resolve(verdicts);
      const [crashed, ...others] = rest as [ModelEntry, ...ModelEntry[]];
      verdicts.set(crashed.id, {
        problem: { code: 'SALIENCY_MODEL_UNSUPPORTED', reason: `checking the model stopped the runtime: ${failure?.message ?? 'the check thread exited'}` },
      });
      void checkInThread(config, others).then((more) => resolve(new Map([...verdicts, ...more])));
    });
  });
}

export interface ModelChecker {
  /** Scans MODELS_DIR and checks what changed; the returned registry has the verdicts applied. */
  scan(previous?: ModelRegistry): Promise<ModelRegistry>;
}

/**
 * `checked`: verdicts already reached elsewhere (the embedded queue's first job thread checks the
 * models it opens for its warm-up); the first scan takes those whose key still holds and checks
 * only the rest in a thread of its own.
 */
export function createModelChecker(config: Config, checked?: Promise<readonly CheckedModel[] | undefined>): ModelChecker {
  const known = new Map<string, Verdict>();
  let seed = checked;
  return {
    async scan(previous) {
      const registry = ModelRegistry.scan(config.MODELS_DIR, previous);
      if (seed) {
        for (const { key, verdict } of (await seed.catch(() => undefined)) ?? []) known.set(key, verdict);
        seed = undefined;
      }
      const fresh = registry.list().filter((e) => !known.has(verdictKey(e)));
      if (fresh.length > 0) {
        const verdicts = await checkInThread(config, fresh);
        for (const e of fresh) known.set(verdictKey(e), verdicts.get(e.id) ?? {});
      }
      const problems = new Map<string, ModelProblem>();
      const facts = new Map<string, ModelFacts>();
      for (const e of registry.list()) {
        const verdict = known.get(verdictKey(e));
        if (verdict?.problem) problems.set(e.id, verdict.problem);
        else if (verdict?.facts) facts.set(e.id, verdict.facts);
      }
      registry.markUnavailable(problems);
      registry.describe(facts);
      return registry;
    },
  };
}
