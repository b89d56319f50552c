// A job as the API shows it.
import { type JobStatus } from '../jobs/contract.js';
import { type Explanation } from './schemas.js';

export function links(id: string): Explanation['links'] {
  const self = `/v1/explanations/${id}`;
  return {
    self,
    events: `${self}/events`,
    heatmap: `${self}/heatmap.png`,
    overlay: `${self}/overlay.png`,
    attribution: `${self}/attribution.npy`,
    map: `${self}/map.json`,
  };
}

/** Failures whose messages may carry internals (paths, stack details): shown generically. */
const INTERNAL_FAILURES = new Set(['SALIENCY_JOB_FAILED', 'SALIENCY_WORKER_CRASHED']);

function publicError(status: JobStatus): Explanation['error'] {
  if (!status.error) return undefined;
  if (!INTERNAL_FAILURES.has(status.error.code)) return status.error;
  return {
    code: status.error.code,
    message: `the job failed after ${status.attempts} attempt(s); submit it again, or see the worker logs for job ${status.id}`,
  };
}

export function toExplanation(status: JobStatus, resolvedParams?: Record<string, unknown>): Explanation {
  const { payload, result } = status;
  const queuedMs = status.startedAt ? status.startedAt - status.submittedAt : undefined;
  return {
    id: status.id,
    status: status.state,
    model: payload.model,
    method: payload.params.method,
    params: result?.params ?? resolvedParams ?? { ...payload.params },
    ...(payload.target !== undefined ? { target: payload.target } : {}),
    ...(status.progress && status.state === 'running' ? { progress: status.progress } : {}),
    ...(result ? { prediction: result.prediction } : {}),
    ...(result
      ? {
          attribution: {
            ...result.attribution,
            ...(result.completenessGap !== undefined ? { completenessGap: result.completenessGap } : {}),
            ...(result.layer ? { layer: result.layer } : {}),
            ...(result.sigma !== undefined ? { sigma: result.sigma } : {}),
          },
        }
      : {}),
    ...(result?.targets ? { targets: result.targets } : {}),
    ...(result?.metrics ? { metrics: result.metrics } : {}),
    ...(result?.image ? { image: result.image } : {}),
    ...(status.error ? { error: publicError(status) } : {}),
    attempts: status.attempts,
    timings: {
      submittedAt: new Date(status.submittedAt).toISOString(),
      ...(queuedMs !== undefined ? { queuedMs } : {}),
      ...(result ? { computeMs: Math.round(result.timings.computeMs), totalMs: Math.round(result.timings.totalMs) } : {}),
    },
    links: links(status.id),
  };
}
