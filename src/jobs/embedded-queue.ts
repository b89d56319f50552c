// JobQueue in process (embedded mode, no Redis): a FIFO run by a small pool of worker threads, so
// that ONNX Runtime's blocking run() never stalls the gateway's event loop. The job records live
// in memory: finished ones expire after RESULT_TTL_SECONDS and at most EMBEDDED_RESULT_CAP are
// kept. Retries follow BullMQ's rules (JOB_ATTEMPTS, exponential backoff from 1 s) so that both
// backends behave alike.
//
// Shutdown (close) never terminates a thread inside ONNX Runtime: a worker thread ended while its
// native run() is in progress takes the whole process down (node-addon-api throws a C++
// Napi::Error into the terminating environment: abort, exit 134), and so does process.exit().
// Accepted jobs run on until SHUTDOWN_TIMEOUT_MS; then the running ones are asked to stop (the
// processor checks at each graph run, like a cancellation), and each thread is ended only once it
// is idle, by letting it close its sessions and exit by itself.
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { type JobError, type JobEvent, type JobPayload, type JobResult, type JobState, type JobStatus, type Progress } from './contract.js';
import { type FromThread, type ThreadData, type ToThread } from './embedded-thread.js';
import {
  type BlobStore,
  type JobQueue,
  QueueFullError,
  QueueUnavailableError,
  type SubmitOptions,
  type WebhookPolicy,
  type WebhookSender,
} from './interfaces.js';
import { MemoryOutbox } from './memory-outbox.js';
import { cancelledError, classifyError, crashedError, JOB_CANCELLED, serializeError, shutDownError } from './job-errors.js';
import { type JobsLogger } from './redis.js';

export interface EmbeddedQueueConfig {
  WORKER_CONCURRENCY: number;
  RESULT_TTL_SECONDS: number;
  EMBEDDED_RESULT_CAP: number;
  MAX_QUEUE_DEPTH: number;
  JOB_ATTEMPTS: number;
  SHUTDOWN_TIMEOUT_MS: number;
  /** Non-empty: the threads start with the queue and warm up (the processor's warmUp) before they count as workers. */
  WARMUP_METHODS?: string;
}

/** First retry delay; doubled for each further attempt (BullMQ's exponential backoff). */
export const BACKOFF_MS = 1000;
/** After the drain deadline, how long close() waits for each running job to reach its next graph run before it only logs. */
export const STOP_WARN_MS = 10_000;

interface JobRecord {
  payload: JobPayload;
  state: JobState;
  attempts: number;
  progress?: Progress;
  result?: JobResult;
  error?: JobError;
  startedAt?: number;
  finishedAt?: number;
  retryTimer?: NodeJS.Timeout;
}

interface Slot {
  worker: Worker;
  cancelFlag: Int32Array;
  jobId?: string;
  /** Still loading and warming up its processor. */
  warming: boolean;
  /** Resolves when the warm-up is over ('ready'), or the thread has exited. */
  warmed: Promise<void>;
  endWarmUp: () => void;
  /** Asked to exit (stopThread): it keeps the process alive until it has. */
  stopping?: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const FINAL: ReadonlySet<JobState> = new Set(['completed', 'failed', 'cancelled']);

export class EmbeddedJobQueue implements JobQueue {
  private readonly jobs = new Map<string, JobRecord>();
  /** Ids waiting for a thread, oldest first. */
  private readonly waiting: string[] = [];
  /** Jobs waiting out a retry backoff. */
  private delayed = 0;
  /** Finished ids in the order they finished (the oldest are dropped first). */
  private readonly finished = new Set<string>();
  private readonly slots = new Set<Slot>();
  private readonly events = new EventEmitter();
  private readonly threadUrl = new URL('./embedded-thread.js', import.meta.url);
  /** Set when close() starts: no new jobs; the accepted ones still run until the deadline. */
  private draining = false;
  /** Set at the deadline: nothing more is dispatched; running jobs are being stopped. */
  private closing = false;
  private closed?: Promise<void>;
  /** The webhook of each job that has one, until the job ends. */
  private readonly webhooks = new Map<string, string>();
  private readonly outbox: MemoryOutbox;
  private resolveChecked: (models: unknown) => void = () => {};
  /**
   * The verdicts of the first warm-up thread's model check (the processor's checkModels), or
   * undefined without a warm-up, without checkModels, or when that thread ended before.
   */
  readonly checkedModels = new Promise<unknown>((resolve) => (this.resolveChecked = resolve));

  constructor(
    private readonly config: EmbeddedQueueConfig,
    private readonly processorFile: string,
    /** Where the processor's io.read/io.write go (bridged from the threads). */
    private readonly store: BlobStore,
    private readonly logger?: JobsLogger,
  ) {
    this.events.setMaxListeners(0);
    this.outbox = new MemoryOutbox(logger);
    if (config.WARMUP_METHODS?.trim()) {
      // The first thread checks the models first; it keeps the process alive until it has posted them.
      this.spawn(true);
      for (let i = 1; i < config.WORKER_CONCURRENCY; i++) this.spawn().worker.unref();
    } else this.resolveChecked(undefined);
  }

  submit(payload: JobPayload, options: SubmitOptions = {}): Promise<void> {
    if (this.draining) return Promise.reject(new QueueUnavailableError('the job queue is shutting down'));
    this.expire();
    if (this.jobs.has(payload.id)) return Promise.resolve(); // idempotent, like a BullMQ jobId
    if (this.waiting.length + this.delayed >= this.config.MAX_QUEUE_DEPTH) {
      return Promise.reject(new QueueFullError(`the queue holds ${this.config.MAX_QUEUE_DEPTH} waiting jobs`));
    }
    if (options.webhook && !this.outbox.started) return Promise.reject(new Error('a webhook was given before deliverWebhooks()'));
    this.jobs.set(payload.id, { payload, state: 'queued', attempts: 0 });
    if (options.webhook) this.webhooks.set(payload.id, options.webhook);
    this.waiting.push(payload.id);
    this.dispatch();
    return Promise.resolve();
  }

  status(id: string): Promise<JobStatus | undefined> {
    this.expire();
    const job = this.jobs.get(id);
    if (!job) return Promise.resolve(undefined);
    const { payload, state, attempts, progress, result, error, startedAt, finishedAt } = job;
    return Promise.resolve({
      id,
      state,
      payload,
      attempts,
      submittedAt: payload.submittedAt,
      ...(progress && { progress }),
      ...(result && { result }),
      ...(error && { error }),
      ...(startedAt !== undefined && { startedAt }),
      ...(finishedAt !== undefined && { finishedAt }),
    });
  }

  cancel(id: string): Promise<boolean> {
    const job = this.jobs.get(id);
    if (!job || FINAL.has(job.state)) return Promise.resolve(false);
    if (job.retryTimer) {
      clearTimeout(job.retryTimer);
      job.retryTimer = undefined;
      this.delayed--;
    }
    const at = this.waiting.indexOf(id);
    if (at >= 0) this.waiting.splice(at, 1);
    // A running job's thread sees the flag at its next cancelled() check; the thread stays busy
    // until the processor returns, but the job is final now.
    const slot = this.slotOf(id);
    if (slot) Atomics.store(slot.cancelFlag, 0, 1);
    this.finish(id, job, 'cancelled', { error: cancelledError() });
    return Promise.resolve(true);
  }

  async remove(id: string): Promise<void> {
    // Withdrawn, not cancelled: nobody was told of the job.
    this.webhooks.delete(id);
    await this.cancel(id);
    this.jobs.delete(id);
    this.finished.delete(id);
  }

  deliverWebhooks(send: WebhookSender, policy: WebhookPolicy): void {
    this.outbox.start(send, policy);
  }

  notify(jobId: string, url: string): Promise<void> {
    if (!this.outbox.started) return Promise.reject(new Error('a webhook was given before deliverWebhooks()'));
    this.outbox.add(jobId, url);
    return Promise.resolve();
  }

  subscribe(id: string, listener: (event: JobEvent) => void): () => void {
    this.events.on(id, listener);
    return () => this.events.off(id, listener);
  }

  depth(): Promise<number> {
    return Promise.resolve(this.waiting.length + this.delayed);
  }

  /**
   * The pool's capacity less the threads still warming up: threads start on demand (or, with a
   * warm-up, with the queue), so counting live ones would say 0 when idle.
   */
  workers(): Promise<number> {
    let warming = 0;
    for (const slot of this.slots) if (slot.warming) warming++;
    return Promise.resolve(this.draining ? 0 : this.config.WORKER_CONCURRENCY - warming);
  }

  ready(): Promise<boolean> {
    return Promise.resolve(!this.draining);
  }

  /**
   * Stops taking jobs; the accepted ones (running, waiting, retrying) go on until they are done or
   * SHUTDOWN_TIMEOUT_MS has passed. Then what is left fails with SALIENCY_SHUT_DOWN: waiting jobs
   * at once, running ones at their next graph run. Threads end only when idle (see the top).
   */
  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    this.draining = true;
    const deadline = Date.now() + this.config.SHUTDOWN_TIMEOUT_MS;
    const pending = () => this.waiting.length + this.delayed + this.running().length;
    while (pending() > 0 && Date.now() < deadline) await sleep(50);
    this.closing = true;
    for (const [id, job] of this.jobs) {
      if (job.state !== 'queued') continue;
      if (job.retryTimer) clearTimeout(job.retryTimer);
      job.retryTimer = undefined;
      this.finish(id, job, 'failed', { error: shutDownError() });
    }
    this.waiting.length = 0;
    this.delayed = 0;
    const running = this.running();
    if (running.length > 0) {
      this.logger?.warn({ jobIds: running.map((s) => s.jobId) }, 'shutdown: stopping running jobs at their next graph run');
      for (const slot of running) Atomics.store(slot.cancelFlag, 0, 1);
    }
    let warned = false;
    const stopStarted = Date.now();
    while (this.running().length > 0) {
      if (!warned && Date.now() - stopStarted > STOP_WARN_MS) {
        warned = true;
        this.logger?.warn(
          { jobIds: this.running().map((s) => s.jobId) },
          'shutdown: still waiting for a graph run to end (a thread inside ONNX Runtime cannot be ended safely)',
        );
      }
      await sleep(50);
    }
    await Promise.all([...this.slots].map((slot) => this.stopThread(slot)));
    this.slots.clear();
    // Pending retries end here: in embedded mode nothing outlives the process.
    this.outbox.close();
    this.events.removeAllListeners();
  }

  private running(): Slot[] {
    return [...this.slots].filter((s) => s.jobId !== undefined);
  }

  /**
   * Asks an idle thread to close its sessions and exit. A thread still warming up stops after the
   * graph run it is in (it may be inside ONNX Runtime until then, so it is never terminated before
   * it reports the end of its warm-up). A thread that then does not exit within 5 s is terminated:
   * it is idle (not inside a run), so that is safe.
   */
  private async stopThread(slot: Slot): Promise<void> {
    const exited = new Promise((resolve) => slot.worker.once('exit', resolve));
    slot.worker.postMessage({ type: 'shutdown' } satisfies ToThread);
    // close() waits for the thread, warm-up included: nothing may unref it from here on.
    slot.stopping = true;
    slot.worker.ref();
    await slot.warmed;
    const timer = setTimeout(() => void slot.worker.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }

  private dispatch(): void {
    while (!this.closing && this.waiting.length > 0) {
      const slot = this.freeSlot();
      if (!slot) return;
      const id = this.waiting.shift() as string;
      const job = this.jobs.get(id);
      if (!job || job.state !== 'queued') continue;
      job.state = 'running';
      job.attempts++;
      job.startedAt = Date.now();
      slot.jobId = id;
      Atomics.store(slot.cancelFlag, 0, 0);
      slot.worker.ref();
      slot.worker.postMessage({ type: 'run', jobId: id, payload: job.payload } satisfies ToThread);
    }
  }

  private freeSlot(): Slot | undefined {
    for (const slot of this.slots) if (slot.jobId === undefined) return slot;
    if (this.slots.size >= this.config.WORKER_CONCURRENCY) return undefined;
    return this.spawn();
  }

  private spawn(check = false): Slot {
    const cancelFlag = new SharedArrayBuffer(4);
    const worker = new Worker(this.threadUrl, { workerData: { processorFile: this.processorFile, cancelFlag, check } satisfies ThreadData });
    let endWarmUp = () => {};
    const warmed = new Promise<void>((resolve) => (endWarmUp = resolve));
    const slot: Slot = { worker, cancelFlag: new Int32Array(cancelFlag), warming: true, warmed, endWarmUp };
    this.slots.add(slot);
    worker.on('message', (msg: FromThread) => this.onMessage(slot, msg));
    // An uncaught error in the thread ends it; 'exit' follows and handles the job.
    worker.on('error', (err) => this.logger?.error({ err, jobId: slot.jobId }, 'job thread failed'));
    worker.on('exit', (code) => this.onExit(slot, code));
    return slot;
  }

  private onMessage(slot: Slot, msg: FromThread): void {
    if (msg.type === 'checked') {
      this.resolveChecked(msg.models);
      if (slot.jobId === undefined && !slot.stopping) slot.worker.unref();
      return;
    }
    if (msg.type === 'ready') {
      slot.warming = false;
      slot.endWarmUp();
      return;
    }
    if (msg.type === 'read' || msg.type === 'write') {
      this.serveIo(slot, msg);
      return;
    }
    const job = this.jobs.get(msg.jobId);
    const current = job?.state === 'running' ? job : undefined;
    switch (msg.type) {
      case 'progress':
        if (current) {
          current.progress = msg.progress as Progress;
          this.events.emit(msg.jobId, { type: 'progress', id: msg.jobId, progress: current.progress } satisfies JobEvent);
        }
        return;
      case 'result':
        this.release(slot);
        if (current) this.finish(msg.jobId, current, 'completed', { result: msg.result as JobResult });
        break;
      case 'error': {
        this.release(slot);
        if (current) this.fail(msg.jobId, current, classifyError(msg.error));
        break;
      }
    }
    this.dispatch();
  }

  private serveIo(slot: Slot, msg: Extract<FromThread, { type: 'read' | 'write' }>): void {
    // Nothing is written back for a job that is no longer running (cancelled, deleted): DELETE has
    // removed its blobs already, and this check runs on the same thread as DELETE, so no write
    // can slip in between.
    const job = slot.jobId === undefined ? undefined : this.jobs.get(slot.jobId);
    if (msg.type === 'write' && job?.state !== 'running') {
      const error = serializeError(Object.assign(new Error('the job was cancelled; its result is not stored'), { name: 'JobCancelledError' }));
      slot.worker.postMessage({ type: 'io-reply', requestId: msg.requestId, error } satisfies ToThread);
      return;
    }
    const done = msg.type === 'read' ? this.store.get(msg.key) : this.store.put(msg.key, msg.value, msg.ttlSeconds).then(() => undefined);
    done.then(
      (value) => slot.worker.postMessage({ type: 'io-reply', requestId: msg.requestId, ...(value && { value }) } satisfies ToThread),
      (err: unknown) => slot.worker.postMessage({ type: 'io-reply', requestId: msg.requestId, error: serializeError(err) } satisfies ToThread),
    );
  }

  private onExit(slot: Slot, code: number): void {
    this.slots.delete(slot);
    slot.endWarmUp();
    this.resolveChecked(undefined); // the checking thread ended first: the gateway checks in its own thread
    if (this.closing && slot.jobId === undefined) return; // asked to exit
    const id = slot.jobId;
    const job = id === undefined ? undefined : this.jobs.get(id);
    if (id !== undefined && job?.state === 'running') {
      this.logger?.warn({ jobId: id, exitCode: code, attempt: job.attempts }, 'job thread exited mid-job');
      this.fail(id, job, { error: crashedError(`thread exit code ${code}`), retry: true });
    }
    this.dispatch(); // a fresh thread replaces this one on demand
  }

  private release(slot: Slot): void {
    slot.jobId = undefined;
    // An idle thread must not keep the process alive (one that is exiting does, see stopThread).
    if (!slot.stopping) slot.worker.unref();
  }

  private fail(id: string, job: JobRecord, { error, retry }: { error: JobError; retry: boolean }): void {
    // Stopped by shutdown (a client's cancel made the job final before its thread stopped).
    if (this.closing && (error.code === JOB_CANCELLED || error.code === shutDownError().code)) {
      this.finish(id, job, 'failed', { error: shutDownError() });
      return;
    }
    if (error.code === JOB_CANCELLED) {
      this.finish(id, job, 'cancelled', { error });
      return;
    }
    if (!retry || job.attempts >= this.config.JOB_ATTEMPTS || this.closing) {
      this.finish(id, job, 'failed', { error });
      return;
    }
    job.state = 'queued';
    job.progress = undefined;
    this.delayed++;
    job.retryTimer = setTimeout(
      () => {
        job.retryTimer = undefined;
        this.delayed--;
        this.waiting.unshift(id);
        this.dispatch();
      },
      BACKOFF_MS * 2 ** (job.attempts - 1),
    );
  }

  private finish(id: string, job: JobRecord, state: 'completed' | 'failed' | 'cancelled', outcome: { result?: JobResult; error?: JobError }): void {
    job.state = state;
    job.finishedAt = Date.now();
    if (outcome.result) job.result = outcome.result;
    if (outcome.error) job.error = outcome.error;
    // Its input is no longer needed by a run: the store may evict it under pressure.
    this.store.release?.(job.payload.input.key, ...(job.payload.baselineKey ? [job.payload.baselineKey] : []));
    this.finished.add(id);
    const event: JobEvent =
      state === 'completed'
        ? { type: 'completed', id, result: job.result as JobResult }
        : state === 'failed'
          ? { type: 'failed', id, error: job.error as JobError }
          : { type: 'cancelled', id };
    this.events.emit(id, event);
    this.events.removeAllListeners(id);
    const webhook = this.webhooks.get(id);
    if (webhook) {
      this.webhooks.delete(id);
      this.outbox.add(id, webhook);
    }
    this.expire();
  }

  private slotOf(id: string): Slot | undefined {
    for (const slot of this.slots) if (slot.jobId === id) return slot;
    return undefined;
  }

  /** Drops finished jobs past their TTL, then the oldest beyond the cap. */
  private expire(): void {
    const cutoff = Date.now() - this.config.RESULT_TTL_SECONDS * 1000;
    for (const id of this.finished) {
      const job = this.jobs.get(id);
      const expired = job === undefined || (job.finishedAt ?? 0) <= cutoff;
      if (!expired && this.finished.size <= this.config.EMBEDDED_RESULT_CAP) break;
      this.finished.delete(id);
      this.jobs.delete(id);
    }
  }
}
