// The result cache: a submission that repeats an earlier one exactly (same model bytes, same input
// bytes, same method and resolved parameters, seed included, same target) is answered with the
// earlier job, marked `cached: true`, instead of computing it again. Dashboards that re-submit the
// same image with a fixed seed get the stored result at once.
// - The key is a SHA-256 of (model hash, input kind and bytes' hash, baseline bytes' hash, resolved
//   parameters, target), scoped to the caller's API key: another key's jobs stay invisible.
// - It maps to the job id, recorded at submission, so a repeat while the first is still running
//   follows that job too. A job that failed, was cancelled or deleted, or whose attribution has
//   expired is no hit: the submission runs anew. Entries live RESULT_TTL_SECONDS, as results do.
// - `Cache-Control: no-cache` on the request skips the lookup (the new job is still recorded).
import { createHash } from 'node:crypto';
import { type FastifyRequest } from 'fastify';
import { type JobQueue, type BlobStore } from '../jobs/interfaces.js';
import { type JobStatus, keys } from '../jobs/contract.js';

export interface CacheKeyParts {
  modelHash: string;
  kind: 'image' | 'tensor';
  input: Uint8Array;
  baseline?: Uint8Array;
  resolved: Record<string, unknown>;
  target: number | undefined;
  /** Anything else that changes the result (several targets, quality metrics). */
  extra?: Record<string, unknown>;
}

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

/** JSON with sorted keys, so the same parameters always hash the same. */
const canonical = (value: Record<string, unknown>) => JSON.stringify(Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b))));

export class ResultCache {
  /** Keys each request recorded: the images of one request are separate jobs even when equal. */
  private readonly recorded = new WeakMap<FastifyRequest, Set<string>>();

  constructor(
    private readonly store: BlobStore,
    private readonly queue: JobQueue,
    private readonly ttlSeconds: number,
    private readonly enabled: boolean,
  ) {}

  key(owner: string | undefined, parts: CacheKeyParts): string {
    const digest = sha256(
      JSON.stringify([
        parts.modelHash,
        parts.kind,
        sha256(parts.input),
        parts.baseline ? sha256(parts.baseline) : null,
        canonical(parts.resolved),
        parts.target ?? null,
        parts.extra ? canonical(parts.extra) : null,
      ]),
    );
    return `resultcache:${owner ?? 'anonymous'}:${digest}`;
  }

  /** The earlier job this submission repeats, if it can still answer for it. */
  async lookup(request: FastifyRequest, key: string): Promise<JobStatus | undefined> {
    if (!this.enabled || /\bno-(cache|store)\b/i.test(String(request.headers['cache-control'] ?? ''))) return undefined;
    if (this.recorded.get(request)?.has(key)) return undefined;
    const id = (await this.store.get(key))?.toString('utf8');
    if (!id) return undefined;
    const status = await this.queue.status(id);
    if (!status || (status.payload.owner ?? undefined) !== request.owner) return undefined;
    if (status.state === 'failed' || status.state === 'cancelled') return undefined;
    if (await this.store.get(keys.deleted(id))) return undefined;
    if (status.state === 'completed' && !(await this.store.get(keys.attribution(id)))) return undefined;
    return status;
  }

  async remember(request: FastifyRequest, key: string, jobId: string): Promise<void> {
    if (!this.enabled) return;
    const recorded = this.recorded.get(request) ?? new Set<string>();
    recorded.add(key);
    this.recorded.set(request, recorded);
    await this.store.put(key, Buffer.from(jobId), this.ttlSeconds);
  }
}
