// A processor whose warm-up lasts until a file exists (its path in SALIENCY_TEST_WARMUP_GATE):
// the warm-up tests decide when the thread is warm. Each finished warm-up appends a line to
// `<gate>.warmed`, so a test can count the threads that warmed up; one stopped by a shutdown
// appends to `<gate>.stopped`. Jobs behave as the fake
// processor's.
import { appendFileSync, existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { threadId } from 'node:worker_threads';

export { processJob } from './fake-processor.js';

export async function warmUp(stop?: () => boolean): Promise<void> {
  const gate = process.env['SALIENCY_TEST_WARMUP_GATE'] ?? '';
  while (!existsSync(gate)) {
    // Asked to stop (the thread is shutting down): `<gate>.stopped` says the warm-up ended itself.
    if (stop?.()) return appendFileSync(`${gate}.stopped`, `${threadId}\n`);
    await sleep(20);
  }
  appendFileSync(`${gate}.warmed`, `${threadId}\n`);
}
