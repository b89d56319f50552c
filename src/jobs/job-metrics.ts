// Prometheus metrics of finished job attempts, by whoever runs them: each `saliency worker`
// process (served on WORKER_METRICS_PORT), or the gateway itself in embedded mode, where the
// worker threads are its own. prom-client is the only dependency.
import { type Job, type Worker } from 'bullmq';
import { Counter, Histogram, type Registry } from 'prom-client';
import { type JobPayload, type JobResult } from './contract.js';
import { JOB_CANCELLED, decodeJobError } from './job-errors.js';

/** Seconds: from tens of milliseconds (a gradient on a small model) to ten minutes. */
export const DURATION_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export interface JobObservation {
  method: string;
  model: string;
  state: 'completed' | 'failed' | 'cancelled';
  /** The error code of a failed or cancelled attempt. */
  code?: string;
  /** From submission to the start of this attempt. */
  waitSeconds?: number;
  /** The method's compute time (completed attempts). */
  computeSeconds?: number;
}

export interface JobMetrics {
  observe(o: JobObservation): void;
}

export function createJobMetrics(registry: Registry, prefix: string): JobMetrics {
  const registers = [registry];
  const attempts = new Counter({
    name: `${prefix}_jobs_total`,
    help: 'Finished job attempts by state, method and model',
    labelNames: ['state', 'method', 'model'],
    registers,
  });
  const failures = new Counter({
    name: `${prefix}_job_failures_total`,
    help: 'Failed or cancelled job attempts by error code',
    labelNames: ['code', 'method'],
    registers,
  });
  const wait = new Histogram({
    name: `${prefix}_queue_wait_seconds`,
    help: 'Time from submission to the start of the attempt',
    labelNames: ['method', 'model'],
    buckets: DURATION_BUCKETS,
    registers,
  });
  const compute = new Histogram({
    name: `${prefix}_job_compute_seconds`,
    help: 'Compute time of completed jobs by method and model',
    labelNames: ['method', 'model'],
    buckets: DURATION_BUCKETS,
    registers,
  });
  return {
    observe(o) {
      attempts.inc({ state: o.state, method: o.method, model: o.model });
      if (o.code !== undefined) failures.inc({ code: o.code, method: o.method });
      if (o.waitSeconds !== undefined && o.waitSeconds >= 0) wait.observe({ method: o.method, model: o.model }, o.waitSeconds);
      if (o.computeSeconds !== undefined) compute.observe({ method: o.method, model: o.model }, o.computeSeconds);
    },
  };
}

/** Feeds `metrics` from a BullMQ worker's attempt events (the worker process's view). */
export function observeAttempts(worker: Worker<JobPayload, JobResult>, metrics: JobMetrics): void {
  const base = (job: Job<JobPayload, JobResult>) => ({
    method: job.data.params.method,
    model: job.data.model,
    ...(job.processedOn !== undefined && { waitSeconds: (job.processedOn - job.data.submittedAt) / 1000 }),
  });
  worker.on('completed', (job, result) => metrics.observe({ ...base(job), state: 'completed', computeSeconds: result.timings.computeMs / 1000 }));
  worker.on('failed', (job, err) => {
    if (!job) return;
    const { code } = decodeJobError(err.message);
    metrics.observe({ ...base(job), state: code === JOB_CANCELLED ? 'cancelled' : 'failed', code });
  });
}
