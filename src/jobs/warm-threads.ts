// Job threads of a BullMQ worker started before the worker itself: each loads the processor,
// which warms up (sandbox-adapter.ts awaits its warmUp) before BullMQ's Child counts as
// initialised. The BullMQ Worker is created only once they are warm, so it takes no job and is not
// in the queue's worker list (what the gateway's /readyz counts) while its threads still compile.
import { Child, type ChildPool } from 'bullmq';
import { createRequire } from 'node:module';

/** The thread entry BullMQ's sandbox uses (`bullmq` resolves to its CommonJS build). */
const MAIN_WORKER_FILE = createRequire(import.meta.url).resolve('bullmq/dist/cjs/classes/main-worker.js');

export interface WarmThreads {
  /** The threads that started and warmed up; one that failed or ended is left out (BullMQ starts a fresh one for a job). */
  readonly ready: Promise<Child[]>;
  /**
   * Ends the threads started so far (a worker closed during its warm-up). A warm-up may be inside
   * ONNX Runtime, where ending its thread would abort the process: each is asked to stop after
   * its graph run (`stop`), and the threads are ended once their warm-ups are over.
   */
  kill(): Promise<void>;
}

/** Resolves true once the thread has loaded (and warmed) its processor, false if it failed or ended first. */
function warm(child: Child, onError: (err: Error) => void): Promise<boolean> {
  return new Promise((resolve) => {
    // BullMQ's init() waits for a 'close' that a worker thread never emits: an ended thread is seen here.
    child.once('exit', () => resolve(false));
    // A thread's uncaught error ends it ('exit' follows); unheard, the emitter would throw it here.
    child.on('error', onError);
    child.init().then(
      () => resolve(!child.hasProcessExited()),
      (err: unknown) => {
        onError(err as Error);
        resolve(false);
      },
    );
  });
}

/**
 * `stop`: the Int32 (shared with the threads through workerThreadsOptions' workerData) that kill()
 * sets to 1 to end the warm-ups early.
 */
export function startWarmThreads(
  count: number,
  processFile: string,
  workerThreadsOptions: object,
  stop: Int32Array,
  onError: (err: Error) => void,
): WarmThreads {
  const children = Array.from({ length: count }, () => new Child(MAIN_WORKER_FILE, processFile, { useWorkerThreads: true, workerThreadsOptions }));
  const ready = Promise.all(children.map((c) => warm(c, onError))).then((ok) => children.filter((_, i) => ok[i]));
  return {
    ready,
    // Once `ready` settles every thread exists and is idle (warm, stopped early, or ended).
    kill: async () => {
      Atomics.store(stop, 0, 1);
      await ready;
      await Promise.allSettled(children.filter((c) => c.worker).map((c) => c.kill()));
    },
  };
}

/** Hands warm threads to a BullMQ worker's pool of sandbox threads, as if each had just run a job. */
export function adoptThreads(worker: object, children: readonly Child[]): void {
  // BullMQ 5 keeps the pool private; this is the one place that reaches into it.
  const pool = (worker as { childPool?: ChildPool }).childPool;
  if (!pool) throw new Error('this BullMQ Worker has no childPool: adoptThreads() needs updating for this bullmq version');
  for (const child of children) {
    pool.release(child);
    child.on('exit', () => pool.remove(child));
  }
}
