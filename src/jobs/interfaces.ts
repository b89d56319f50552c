// The two seams the gateway and the workers share: a blob store with TTLs and a job queue.
// Each has a Redis implementation (distributed) and an in-process one (embedded).
import { type JobEvent, type JobPayload, type JobResult, type JobStatus, type Progress } from './contract.js';

export interface BlobStore {
  put(key: string, value: Uint8Array, ttlSeconds: number): Promise<void>;
  get(key: string): Promise<Buffer | undefined>;
  /** Stores only when the key holds nothing (atomically); whether it stored. */
  putIfAbsent(key: string, value: Uint8Array, ttlSeconds: number): Promise<boolean>;
  delete(...keys: string[]): Promise<void>;
  /** Deletes every key starting with this prefix (a job's renderings). */
  deletePrefix(prefix: string): Promise<void>;
  /**
   * The job that needed these blobs has finished: a store with a byte cap may evict them under
   * pressure (embedded memory store). Before that, an accepted job's blobs are never evicted.
   */
  release?(...keys: string[]): void;
  close(): Promise<void>;
}

export interface JobQueue {
  /** Enqueues a job; rejects with QueueUnavailableError when the backend cannot be reached. */
  submit(payload: JobPayload): Promise<void>;
  status(id: string): Promise<JobStatus | undefined>;
  /** Cancels a queued or running job (a running job stops at its next graph run). */
  cancel(id: string): Promise<boolean>;
  /** Forgets a finished job. */
  remove(id: string): Promise<void>;
  /** Progress and final events of one job; returns the unsubscribe function. */
  subscribe(id: string, listener: (event: JobEvent) => void): () => void;
  /** Jobs waiting to run. */
  depth(): Promise<number>;
  /** Workers currently connected (embedded: its threads). */
  workers(): Promise<number>;
  /** Whether the backend is reachable. */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * What a processor gets from whoever runs it (embedded queue thread or BullMQ sandbox). The
 * processor never opens a store itself: in embedded mode the blobs live in the main thread's
 * memory store, so `read`/`write` are bridged to it; with Redis they go to the Redis store.
 */
export interface ProcessorIO {
  progress(p: Progress): void;
  cancelled(): boolean;
  /** Reads a blob (the job's input or baseline). */
  read(key: string): Promise<Uint8Array | undefined>;
  /** Writes a blob (the attribution) with a TTL in seconds. */
  write(key: string, value: Uint8Array, ttlSeconds: number): Promise<void>;
}

/** What runs a job: given the payload, report progress, honour cancellation, return the result. */
export type JobProcessor = (payload: JobPayload, io: ProcessorIO) => Promise<JobResult>;

export class QueueUnavailableError extends Error {
  override name = 'QueueUnavailableError';
}

export class QueueFullError extends Error {
  override name = 'QueueFullError';
}

/** Thrown inside a processor when its job was cancelled. */
export class JobCancelledError extends Error {
  override name = 'JobCancelledError';
}

/** A processor error with a client-visible code (bad model input etc.): never retried. */
export class JobInputError extends Error {
  override name = 'JobInputError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
