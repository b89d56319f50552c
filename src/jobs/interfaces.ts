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

/** One attempt at calling the webhook of a job that has ended (completed, failed or cancelled). */
export interface WebhookDelivery {
  jobId: string;
  url: string;
  /** 1 for the first attempt. */
  attempt: number;
}

/** Makes one attempt; a rejection is retried after `delayMs(attempt)`, up to `attempts` in all. */
export type WebhookSender = (delivery: WebhookDelivery) => Promise<void>;

export interface WebhookPolicy {
  attempts: number;
  delayMs(attempt: number): number;
}

export interface SubmitOptions {
  /** Called once the job has ended, through the sender given to deliverWebhooks. */
  webhook?: string;
}

export interface JobQueue {
  /**
   * Enqueues a job (with its webhook delivery, when it has one: both or neither); rejects with
   * QueueUnavailableError when the backend cannot be reached.
   */
  submit(payload: JobPayload, options?: SubmitOptions): Promise<void>;
  status(id: string): Promise<JobStatus | undefined>;
  /** Cancels a queued or running job (a running job stops at its next graph run). */
  cancel(id: string): Promise<boolean>;
  /** Forgets a job; one that had not ended yet is cancelled, and its webhook withdrawn (a rolled-back submission). */
  remove(id: string): Promise<void>;
  /** Progress and final events of one job; returns the unsubscribe function. */
  subscribe(id: string, listener: (event: JobEvent) => void): () => void;
  /** Jobs waiting to run. */
  depth(): Promise<number>;
  /** Workers currently connected (embedded: its threads). */
  workers(): Promise<number>;
  /** Whether the backend is reachable. */
  ready(): Promise<boolean>;
  /**
   * Delivers the webhooks of ended jobs with `send` from now on (a later call replaces the sender).
   * Call it before submitting jobs with a webhook. Embedded: in memory, lost on exit. BullMQ: a
   * queue of its own that survives this process; any process that called this delivers.
   */
  deliverWebhooks(send: WebhookSender, policy: WebhookPolicy): void;
  /**
   * Delivers the webhook of a job that has already completed to `url` (a submission answered from
   * the result cache), retried like any delivery.
   */
  notify(jobId: string, url: string): Promise<void>;
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
