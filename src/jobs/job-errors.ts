// How a processor's failure becomes a job's error. Errors cross thread boundaries as plain
// objects (structured clone keeps no prototype), so they are recognised by `name`, and a job's
// error is stored as JSON {code, message} (BullMQ's failedReason is a string).
import { type JobError } from './contract.js';

export const JOB_FAILED = 'SALIENCY_JOB_FAILED';
export const JOB_CANCELLED = 'SALIENCY_JOB_CANCELLED';
export const WORKER_CRASHED = 'SALIENCY_WORKER_CRASHED';
/** The embedded server shut down before the job finished (it ran in that process's memory). */
export const SHUT_DOWN = 'SALIENCY_SHUT_DOWN';

/** What survives of an error after a postMessage: own enumerable data only. */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  if (typeof err === 'object' && err !== null) {
    const { name, message, code } = err as Record<string, unknown>;
    return {
      name: typeof name === 'string' ? name : 'Error',
      message: typeof message === 'string' ? message : JSON.stringify(err),
      ...(typeof code === 'string' ? { code } : {}),
    };
  }
  return { name: 'Error', message: String(err) };
}

export interface Classified {
  error: JobError;
  /** Whether another attempt may succeed (input errors and cancellations never retry). */
  retry: boolean;
}

/**
 * JobInputError → its code, not retried; JobCancelledError → SALIENCY_JOB_CANCELLED, not retried;
 * an error whose message is JSON {code, message} → that error, retried; anything else →
 * SALIENCY_JOB_FAILED with the message, retried.
 */
export function classifyError(raw: unknown): Classified {
  const err = serializeError(raw);
  if (err.name === 'JobCancelledError') return { error: cancelledError(err.message), retry: false };
  if (err.name === 'JobInputError') return { error: { code: err.code ?? JOB_FAILED, message: err.message }, retry: false };
  const coded = parseJobError(err.message);
  if (coded) return { error: coded, retry: true };
  return { error: { code: JOB_FAILED, message: err.message || err.name }, retry: true };
}

export function cancelledError(message = ''): JobError {
  return { code: JOB_CANCELLED, message: message || 'The job was cancelled.' };
}

export function crashedError(detail: string): JobError {
  return { code: WORKER_CRASHED, message: `The worker running this job stopped unexpectedly (${detail}).` };
}

export function shutDownError(): JobError {
  return { code: SHUT_DOWN, message: 'The server shut down before this job finished; submit it again.' };
}

export function encodeJobError(error: JobError): string {
  return JSON.stringify({ code: error.code, message: error.message });
}

/** A stored failure reason as a JobError; reasons that are not our JSON become SALIENCY_JOB_FAILED. */
export function decodeJobError(reason: string | undefined): JobError {
  return parseJobError(reason ?? '') ?? { code: JOB_FAILED, message: reason || 'The job failed.' };
}

function parseJobError(text: string): JobError | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value === 'object' && value !== null) {
      const { code, message } = value as Record<string, unknown>;
      if (typeof code === 'string' && typeof message === 'string') return { code, message };
    }
  } catch {
    // not JSON: a plain message
  }
  return undefined;
}
