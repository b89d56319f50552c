// The module BullMQ's sandbox loads in each worker thread (BullMQ imports a file and calls its
// default export with a job proxy; see bullmq/dist/esm/classes/child-processor.js). It loads the
// real processor named in workerData and gives it:
// - progress: through the proxy's updateProgress (BullMQ stores it and publishes 'progress');
// - cancelled: the AbortSignal that Worker.cancelJob() aborts — the parent process polls the
//   job's cancel marker in Redis, so the thread needs no polling of its own;
// - read/write: a Redis blob store of this thread (the sandbox has no other way to Redis).
import { workerData } from 'node:worker_threads';
import { type JobPayload, type JobResult, type Progress } from './contract.js';
import { serializeError } from './job-errors.js';
import { loadProcessorModule } from './load-processor.js';
import { RedisBlobStore } from './redis-store.js';

export interface SandboxData {
  processorFile: string;
  redisUrl: string;
  keyPrefix: string;
}

/** The part of BullMQ's sandboxed job proxy used here. */
interface SandboxJob {
  data: JobPayload;
  updateProgress(progress: Progress): Promise<void>;
}

const data = workerData as SandboxData;
const processor = await loadProcessorModule(data.processorFile);
const store = new RedisBlobStore(data.redisUrl, data.keyPrefix, { role: 'worker' });

export default async function runSandboxedJob(job: SandboxJob, _token: string | undefined, signal?: AbortSignal): Promise<JobResult> {
  try {
    return await processor.processJob(job.data, {
      progress: (p) => void job.updateProgress(p),
      cancelled: () => signal?.aborted === true,
      read: (key) => store.get(key),
      write: (key, value, ttlSeconds) => store.put(key, value, ttlSeconds),
    });
  } catch (err) {
    // BullMQ copies the error's own properties to the parent: make name, code and message own.
    // An empty message would make BullMQ replace the error (and lose its name).
    const plain = serializeError(err);
    throw Object.assign(new Error(), plain, { message: plain.message || plain.name });
  }
}
