// A worker process's liveness for orchestrators that cannot speak to it (compose healthchecks):
// while the BullMQ connection is up the worker rewrites a small file every few seconds, and
// `saliency worker --health` (a second process in the same container) checks its age.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

export const HEARTBEAT_INTERVAL_MS = 5000;
/** Older than this the worker counts as stuck or disconnected: three missed beats. */
export const HEARTBEAT_STALE_MS = 3 * HEARTBEAT_INTERVAL_MS;

export interface Heartbeat {
  pid: number;
  at: number;
}

/** Beats while `connected()` says the worker's Redis connection is up; returns the stop function (removes the file). */
export function startHeartbeat(file: string, connected: () => Promise<boolean>): () => void {
  let stopped = false;
  const beat = async () => {
    const up = await connected().catch(() => false);
    if (stopped || !up) return;
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ pid: process.pid, at: Date.now() } satisfies Heartbeat));
    renameSync(tmp, file); // atomic: a reader never sees half a file
  };
  void beat();
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
  return undefined;
}
