// A small pool of worker threads for renderings (render-worker.ts): the gateway hands over the
// raw attribution (and the original's encoded bytes for an overlay) and gets a PNG back. Bounded
// three ways: RENDER_THREADS threads, a waiting line of a few tasks per thread (beyond it,
// RenderBusyError: the route answers 503 with Retry-After), and MAX_RENDER_PIXELS per output.
import { Worker } from 'node:worker_threads';
import { ImageError, type ImageErrorCode } from './errors.js';
import { type MapExport, type RenderSource } from './render.js';
import { type RenderOptions } from './render-options.js';

export type RenderKind = 'heatmap' | 'overlay' | 'map';

export interface RenderTask {
  id: number;
  kind: RenderKind;
  source: RenderSource;
  /** The uploaded image's bytes, for overlays. */
  image?: Uint8Array;
  options: RenderOptions;
  maxPixels: number;
  limitInputPixels: number;
}

/** What the pool sends a thread: a task, or `close` (finish the task in hand, then exit). */
export type RenderMessage = RenderTask | 'close';

/** How long close() lets a thread finish its rendering before it is terminated. */
export const RENDER_CLOSE_TIMEOUT_MS = 10_000;

export type RenderReply =
  | { type: 'png'; id: number; png: Uint8Array; width: number; height: number; scale: number; clipValue: number }
  | { type: 'map'; id: number; map: MapExport }
  | { type: 'error'; id: number; message: string; code?: string };

export interface PooledPng {
  png: Buffer;
  width: number;
  height: number;
  scale: number;
  clipValue: number;
}

export interface RenderPoolOptions {
  threads: number;
  maxPixels: number;
  limitInputPixels: number;
  /** Tasks allowed to wait for a thread, per thread (default 4). */
  queuePerThread?: number;
}

/** Every thread is busy and the waiting line is full. */
export class RenderBusyError extends Error {
  override name = 'RenderBusyError';
}

interface Pending {
  task: RenderTask;
  resolve: (reply: RenderReply) => void;
  reject: (err: Error) => void;
}

interface Thread {
  worker: Worker;
  current?: Pending;
}

export class RenderPool {
  private readonly threads = new Set<Thread>();
  private readonly waiting: Pending[] = [];
  private readonly url = new URL('./render-worker.js', import.meta.url);
  private nextId = 0;
  private closed = false;

  constructor(private readonly options: RenderPoolOptions) {}

  /** Tasks waiting for a thread. */
  get backlog(): number {
    return this.waiting.length;
  }

  async png(kind: 'heatmap' | 'overlay', source: RenderSource, options: RenderOptions, image?: Uint8Array): Promise<PooledPng> {
    const reply = await this.submit({ kind, source, options, ...(image ? { image } : {}) });
    if (reply.type !== 'png') throw new Error(`render pool: expected a PNG, got ${reply.type}`);
    return {
      png: Buffer.from(reply.png.buffer, reply.png.byteOffset, reply.png.byteLength),
      width: reply.width,
      height: reply.height,
      scale: reply.scale,
      clipValue: reply.clipValue,
    };
  }

  async map(source: RenderSource, options: RenderOptions): Promise<MapExport> {
    const reply = await this.submit({ kind: 'map', source, options });
    if (reply.type !== 'map') throw new Error(`render pool: expected a map, got ${reply.type}`);
    return reply.map;
  }

  /**
   * Refuses new renderings and ends the threads. Each finishes the rendering in hand and exits by
   * itself: a thread terminated while sharp works for it can abort the whole process (a native
   * callback then meets a stopped environment). One that has not exited after
   * RENDER_CLOSE_TIMEOUT_MS is terminated.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.waiting.splice(0)) p.reject(new RenderBusyError('the renderer is shutting down'));
    await Promise.all([...this.threads].map((t) => stopThread(t.worker)));
    this.threads.clear();
  }

  private submit(partial: Omit<RenderTask, 'id' | 'maxPixels' | 'limitInputPixels'>): Promise<RenderReply> {
    if (this.closed) return Promise.reject(new RenderBusyError('the renderer is shutting down'));
    const idle = [...this.threads].some((t) => !t.current) || this.threads.size < this.options.threads;
    if (!idle && this.waiting.length >= this.options.threads * (this.options.queuePerThread ?? 4)) {
      return Promise.reject(new RenderBusyError(`${this.waiting.length} renderings are waiting`));
    }
    const task: RenderTask = { ...partial, id: this.nextId++, maxPixels: this.options.maxPixels, limitInputPixels: this.options.limitInputPixels };
    return new Promise<RenderReply>((resolve, reject) => {
      this.waiting.push({ task, resolve, reject });
      this.dispatch();
    }).then((reply) => {
      if (reply.type === 'error') throw reply.code ? new ImageError(reply.code as ImageErrorCode, reply.message) : new Error(reply.message);
      return reply;
    });
  }

  private dispatch(): void {
    while (this.waiting.length > 0) {
      const thread = [...this.threads].find((t) => !t.current) ?? (this.threads.size < this.options.threads ? this.spawn() : undefined);
      if (!thread) return;
      const next = this.waiting.shift() as Pending;
      thread.current = next;
      // A busy thread keeps the process alive until it answers; an idle one does not.
      thread.worker.ref();
      // The original's bytes are copied (structured clone): the caller's buffer may be the store's.
      thread.worker.postMessage(next.task satisfies RenderMessage);
    }
  }

  private spawn(): Thread {
    const worker = new Worker(this.url);
    const thread: Thread = { worker };
    worker.on('message', (reply: RenderReply) => {
      const current = thread.current;
      thread.current = undefined;
      worker.unref();
      if (current && current.task.id === reply.id) current.resolve(reply);
      this.dispatch();
    });
    const fail = (err: Error) => {
      // A thread that died (out of memory, a native crash) fails its task; the next spawns fresh.
      this.threads.delete(thread);
      thread.current?.reject(err);
      thread.current = undefined;
      if (!this.closed) this.dispatch();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`render thread exited with code ${code}`)));
    worker.unref();
    this.threads.add(thread);
    return thread;
  }
}

async function stopThread(worker: Worker): Promise<void> {
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  worker.ref(); // the process waits for it, so it is not ended at exit with a rendering in hand
  worker.postMessage('close' satisfies RenderMessage);
  const timer = setTimeout(() => void worker.terminate(), RENDER_CLOSE_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
