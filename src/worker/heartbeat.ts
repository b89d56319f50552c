// A worker process's liveness for orchestrators that cannot speak to it (compose healthcheck):
// while the BullMQ connection is up, or while its job threads warm up, the worker rewrites a small
// file every few seconds, and `saliency worker --health` (a second process in the same container)
// checks its age and whether the warm-up is over.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { type WorkerState } from '../jobs/index.js';

export const HEARTBEAT_INTERVAL_MS = 5000;
/** Older than this the worker counts as stuck or disconnected: three missed beats. */
export const HEARTBEAT_STALE_MS = 3 * HEARTBEAT_INTERVAL_MS;

export interface Heartbeat {
  pid: number;
  at: number;
  /** Set while the job threads warm up: the worker is alive but takes no job yet. */
  warmingSince?: number;
}

/**
 * Beats while `state()` is ready or warming (not while Redis is down), and once more when `changed`
 * settles (the warm-up's end: health turns ready without waiting for the next beat); returns the
 * stop function (removes the file).
 */
export function startHeartbeat(file: string, state: () => Promise<WorkerState>, changed?: Promise<unknown>): () => void {
  let stopped = false;
  const since = Date.now();
  const beat = async () => {
    const now = await state().catch(() => 'down' as const);
    if (stopped || now === 'down') return;
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ pid: process.pid, at: Date.now(), ...(now === 'warming' && { warmingSince: since }) } satisfies Heartbeat));
    renameSync(tmp, file); // atomic: a reader never sees half a file
  };
  void beat();
  void changed?.then(beat, () => {});
  const timer = setInterval(() => void beat(), HEARTBEAT_INTERVAL_MS);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
    rmSync(file, { force: true });
  };
}

/** Why the worker is unhealthy, or undefined when its last beat is recent. */
export function checkHeartbeat(file: string, now = Date.now()): string | undefined {
  let beat: Heartbeat;
  try {
    beat = JSON.parse(readFileSync(file, 'utf8')) as Heartbeat;
  } catch {
    return `no heartbeat at ${file}: the worker is not running or not connected to Redis`;
  }
  const age = now - beat.at;
  if (!(age <= HEARTBEAT_STALE_MS)) return `the last heartbeat (pid ${beat.pid}) is ${Math.round(age / 1000)} s old: the worker lost Redis or is stuck`;
  if (beat.warmingSince !== undefined)
    return `the worker (pid ${beat.pid}) is still warming up its models (WARMUP_METHODS), for ${Math.round((now - beat.warmingSince) / 1000)} s so far; it takes no job yet`;
  return undefined;
}
