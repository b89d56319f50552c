// Worker-thread entry of the embedded queue: loads the processor once (it keeps its ONNX
// sessions between jobs) and runs one job at a time for the main thread. Blob reads and writes
// are bridged to the main thread, which owns the memory store; they cross in shared memory.
import { parentPort, workerData } from 'node:worker_threads';
import { type JobPayload } from './contract.js';
import { type SerializedError, serializeError } from './job-errors.js';
import { loadProcessorModule } from './load-processor.js';
import { shareableCopy } from './shared-bytes.js';

export interface ThreadData {
  processorFile: string;
  /** One Int32 the main thread sets to 1 to cancel the running job: readable without an event-loop turn. */
  cancelFlag: SharedArrayBuffer;
  /** Check the models (the processor's checkModels) before the warm-up and post the verdicts. */
  check?: boolean;
}

export type ToThread =
  | { type: 'run'; jobId: string; payload: JobPayload }
  | { type: 'io-reply'; requestId: number; value?: Uint8Array; error?: SerializedError }
  | { type: 'shutdown' };

export type FromThread =
  | { type: 'checked'; models: unknown }
  | { type: 'ready' }
  | { type: 'progress'; jobId: string; progress: unknown }
  | { type: 'result'; jobId: string; result: unknown }
  | { type: 'error'; jobId: string; error: SerializedError }
  | { type: 'read'; requestId: number; key: string }
  | { type: 'write'; requestId: number; key: string; value: Uint8Array; ttlSeconds: number };

const port = parentPort;
if (!port) throw new Error('embedded-thread.js must run in a worker thread');
const data = workerData as ThreadData;
const cancelFlag = new Int32Array(data.cancelFlag);
const processor = await loadProcessorModule(data.processorFile);
const pending = new Map<number, { resolve: (value: Uint8Array | undefined) => void; reject: (err: Error) => void }>();
let nextRequest = 0;

const post = (msg: FromThread) => port.postMessage(msg);
/** Set by 'shutdown': the warm-up stops after the graph run it is in. */
let stopping = false;

// The queue counts this thread once it is warm; a job posted meanwhile waits for the warm-up (a
// thread runs one job at a time, and the warm-up counts as one).
const warm = (async () => {
  try {
    if (data.check) post({ type: 'checked', models: await processor.checkModels?.().catch(() => undefined) });
    await processor.warmUp?.(() => stopping);
  } catch {
    // The processor logs what failed; the thread serves jobs all the same.
  } finally {
    post({ type: 'ready' });
  }
})();

port.on('message', (msg: ToThread) => {
  switch (msg.type) {
    case 'run':
      void warm.then(() => run(msg.jobId, msg.payload));
      break;
    case 'io-reply': {
      const request = pending.get(msg.requestId);
      pending.delete(msg.requestId);
      if (msg.error) request?.reject(Object.assign(new Error(msg.error.message), msg.error));
      else request?.resolve(msg.value);
      break;
    }
    case 'shutdown':
      // Never close the sessions under a warm-up run: exiting while ONNX Runtime runs aborts the process.
      stopping = true;
      void warm.then(shutdown);
      break;
  }
});

function request(msg: FromThread & { requestId: number }): Promise<Uint8Array | undefined> {
  return new Promise((resolve, reject) => {
    pending.set(msg.requestId, { resolve, reject });
    post(msg);
  });
}

async function run(jobId: string, payload: JobPayload): Promise<void> {
  try {
    const result = await processor.processJob(payload, {
      progress: (progress) => post({ type: 'progress', jobId, progress }),
      cancelled: () => Atomics.load(cancelFlag, 0) === 1,
      read: (key) => request({ type: 'read', requestId: nextRequest++, key }),
      write: async (key, value, ttlSeconds) => {
        // Copied once, into shared memory: the main thread's store keeps that copy as it is.
        await request({ type: 'write', requestId: nextRequest++, key, value: shareableCopy(value), ttlSeconds });
      },
    });
    post({ type: 'result', jobId, result });
  } catch (err) {
    post({ type: 'error', jobId, error: serializeError(err) });
  }
}

async function shutdown(): Promise<void> {
  try {
    await processor.closeProcessor?.();
  } finally {
    process.exit(0);
  }
}
