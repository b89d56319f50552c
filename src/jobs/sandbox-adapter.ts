// The module BullMQ's sandbox loads in each worker thread (BullMQ imports a file and calls its
// default export with a job proxy; see bullmq/dist/esm/classes/child-processor.js). It loads the
// real processor named in workerData and gives it:
// - progress: through the proxy's updateProgress (BullMQ stores it and publishes 'progress');
// - cancelled: the AbortSignal that Worker.cancelJob() aborts — the parent process polls the
//   job's cancel marker in Redis, so the thread needs no polling of its own;
// - warm-up: the processor's warmUp runs while this module loads, so BullMQ counts the thread as
//   started only once it is warm (a failed warm-up is the processor's to log; the thread serves).
//   A worker closed meanwhile sets `stopWarmUp`: the warm-up ends after its graph run, and only
//   then is the thread ended (never inside ONNX Runtime);
// - read/write: a Redis blob store of this thread (the sandbox has no other way to Redis). A write
//   is refused, atomically, once the job's cancel marker or its deletion tombstone exists: nothing
//   is written back for a cancelled or deleted job.
import { workerData } from 'node:worker_threads';
import { cancelKey } from './bullmq-queue.js';
import { type JobPayload, type JobResult, keys, type Progress } from './contract.js';
import { JobCancelledError } from './interfaces.js';
import { serializeError } from './job-errors.js';
import { loadProcessorModule } from './load-processor.js';
import { RedisBlobStore } from './redis-store.js';

export interface SandboxData {
  processorFile: string;
  redisUrl: string;
  keyPrefix: string;
  /** One Int32 the worker process sets to 1 when it closes during the warm-up: the warm-up stops after its graph run. */
  stopWarmUp?: SharedArrayBuffer;
}

/** The part of BullMQ's sandboxed job proxy used here. */
interface SandboxJob {
  data: JobPayload;
  updateProgress(progress: Progress): Promise<void>;
}

const data = workerData as SandboxData;
const processor = await loadProcessorModule(data.processorFile);
const store = new RedisBlobStore(data.redisUrl, data.keyPrefix, { role: 'worker' });
const stopWarmUp = data.stopWarmUp ? new Int32Array(data.stopWarmUp) : undefined;
try {
  await processor.warmUp?.(() => (stopWarmUp ? Atomics.load(stopWarmUp, 0) === 1 : false));
} catch {
  // Logged by the processor; its jobs meet the same error and report it.
}

export default async function runSandboxedJob(job: SandboxJob, _token: string | undefined, signal?: AbortSignal): Promise<JobResult> {
  try {
    return await processor.processJob(job.data, {
      progress: (p) => void job.updateProgress(p),
      cancelled: () => signal?.aborted === true,
      read: (key) => store.get(key),
      write: async (key, value, ttlSeconds) => {
        const guards = [cancelKey(data.keyPrefix, job.data.id), store.redisKey(keys.deleted(job.data.id))];
        if (signal?.aborted === true || !(await store.putUnless(key, value, ttlSeconds, guards))) {
          throw new JobCancelledError('the job was cancelled; its result is not stored');
        }
      },
    });
  } catch (err) {
    // BullMQ copies the error's own properties to the parent: make name, code and message own.
    // An empty message would make BullMQ replace the error (and lose its name).
    const plain = serializeError(err);
    throw Object.assign(new Error(), plain, { message: plain.message || plain.name });
  }
}
