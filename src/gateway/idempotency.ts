// Idempotency-Key on POST /v1/explanations (after the IETF httpapi draft "The Idempotency-Key HTTP
// Header Field"): a client that retries a submission with the same key gets the answer of the
// first one instead of a second set of jobs.
// - Keys are scoped to the caller (its API key's hash, or anonymous) and kept IDEMPOTENCY_TTL_SECONDS
//   beside the results in the job store, so every gateway replica sees them.
// - The body's fingerprint is a hash of the parsed submission (fields, then each file's SHA-256), so
//   the same request sent as multipart or as JSON is the same request; another body under the same
//   key is 422, a request still being processed under it is 409 with Retry-After.
// - While a request runs, its key is claimed ("in flight", 409 for retries). Only accepted
//   submissions are remembered: one refused (a validation error, a full queue, a store or queue
//   failure part-way through, whose jobs are rolled back) frees the key at once, so the retry or the
//   corrected request may use it. One that fails after its jobs were accepted (while waiting, say)
//   is remembered with the 202 it would have got: the job ids. A claim whose gateway died
//   mid-request expires after IN_FLIGHT_TTL_SECONDS.
import { createHash } from 'node:crypto';
import { type FastifyReply, type FastifyRequest } from 'fastify';
import { type BlobStore } from '../jobs/interfaces.js';
import { apiError } from './errors.js';
import { type Submission } from './submission.js';

/** A claim outlives the longest wait (60 s) and the upload; a gateway that died mid-request frees it then. */
const IN_FLIGHT_TTL_SECONDS = 180;

/** What the store holds under a key. */
interface Stored {
  state: 'in-flight' | 'done';
  fingerprint: string;
  statusCode?: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface Replay {
  statusCode: number;
  headers: Record<string, string>;
  body: unknown;
}

/** The request's Idempotency-Key (a bare token or a quoted sf-string), if any. */
export function idempotencyKey(request: FastifyRequest): string | undefined {
  const header = request.headers['idempotency-key'];
  if (header === undefined) return undefined;
  const raw = (Array.isArray(header) ? header.join(',') : header).trim();
  const value = /^"(.*)"$/.exec(raw)?.[1] ?? raw;
  if (!/^[\x21-\x7e]{1,255}$/.test(value)) throw apiError('SALIENCY_VALIDATION', ['Idempotency-Key must be 1–255 visible ASCII characters']);
  return value;
}

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

export function fingerprint(submission: Submission): string {
  const fields = Object.fromEntries(
    Object.entries(submission.fields)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => [k, String(v)]),
  );
  return sha256(
    JSON.stringify({
      fields,
      images: submission.images.map((u) => sha256(u.bytes)),
      tensor: submission.tensor ? sha256(submission.tensor.bytes) : null,
      baseline: submission.baseline ? sha256(submission.baseline.bytes) : null,
    }),
  );
}

interface Claim {
  owner: string | undefined;
  key: string;
  print: string;
  /** Set once every job of the request exists: the answer that names them. */
  accepted?: Replay;
}

export class Idempotency {
  /** The key each request in progress holds. */
  private readonly claims = new WeakMap<FastifyRequest, Claim>();

  constructor(
    private readonly store: BlobStore,
    private readonly ttlSeconds: number,
  ) {}

  private storeKey(claim: Pick<Claim, 'owner' | 'key'>): string {
    return `idempotency:${claim.owner ?? 'anonymous'}:${sha256(claim.key)}`;
  }

  /**
   * Claims the request's key, if it has one: undefined when the request should run; the first
   * answer to replay when it already ran. Throws 422 for another body under the key, 409 while
   * the first request is still in flight.
   */
  async begin(request: FastifyRequest, submission: Submission): Promise<Replay | undefined> {
    const key = idempotencyKey(request);
    if (key === undefined) return undefined;
    const claim: Claim = { owner: request.owner, key, print: fingerprint(submission) };
    const storeKey = this.storeKey(claim);
    const inFlight = Buffer.from(JSON.stringify({ state: 'in-flight', fingerprint: claim.print } satisfies Stored));
    for (let attempt = 0; attempt < 2; attempt++) {
      if (await this.store.putIfAbsent(storeKey, inFlight, IN_FLIGHT_TTL_SECONDS)) {
        this.claims.set(request, claim);
        return undefined;
      }
      const stored = await this.store.get(storeKey);
      // Gone between the two calls (expired, released): claim it once more.
      if (!stored) continue;
      const record = JSON.parse(stored.toString('utf8')) as Stored;
      if (record.fingerprint !== claim.print) throw apiError('SALIENCY_IDEMPOTENCY_KEY_REUSED', [key]);
      if (record.state === 'in-flight') break;
      return { statusCode: record.statusCode ?? 202, headers: { ...record.headers, 'idempotent-replayed': 'true' }, body: record.body };
    }
    throw apiError('SALIENCY_IDEMPOTENCY_IN_FLIGHT', [key], { 'retry-after': '1' });
  }

  /**
   * Every job of this request exists (none will be rolled back): from now on an error does not free
   * the key but remembers `answer`, the 202 that names the jobs.
   */
  accepted(request: FastifyRequest, answer: Omit<Replay, 'headers'> & { location?: string }): void {
    const claim = this.claims.get(request);
    if (claim) claim.accepted = { statusCode: answer.statusCode, headers: answer.location ? { location: answer.location } : {}, body: answer.body };
  }

  /** Remembers the answer (status, Location, body) for retries with the same key. */
  async complete(request: FastifyRequest, reply: FastifyReply, body: unknown): Promise<void> {
    const location = reply.getHeader('location');
    await this.remember(request, { statusCode: reply.statusCode, headers: typeof location === 'string' ? { location } : {}, body });
  }

  private async remember(request: FastifyRequest, answer: Replay): Promise<void> {
    const claim = this.claims.get(request);
    if (!claim) return;
    this.claims.delete(request);
    const record: Stored = { state: 'done', fingerprint: claim.print, ...answer };
    await this.store.put(this.storeKey(claim), Buffer.from(JSON.stringify(record)), this.ttlSeconds);
  }

  /** Route onError hook: a refused submission frees its key; an accepted one keeps the answer naming its jobs. */
  readonly onError = async (request: FastifyRequest): Promise<void> => {
    const claim = this.claims.get(request);
    if (!claim) return;
    if (claim.accepted) return this.remember(request, claim.accepted).catch(() => undefined);
    this.claims.delete(request);
    await this.store.delete(this.storeKey(claim)).catch(() => undefined);
  };
}
