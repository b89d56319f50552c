// POST /v1/explanations, GET /v1/explanations/:id, its Server-Sent Events, and DELETE.
import { type FastifyInstance, type FastifyRequest } from 'fastify';
import { isJobId, type JobEvent, type JobPayload, type JobStatus, keys } from '../../jobs/contract.js';
import { QueueFullError, QueueUnavailableError } from '../../jobs/interfaces.js';
import { JOB_CANCELLED } from '../../jobs/job-errors.js';
import { type GatewayDeps, type Metrics } from '../deps.js';
import { apiError } from '../errors.js';
import { eventStreams } from '../event-stream.js';
import { observeQuality } from '../quality-histograms.js';
import { Idempotency } from '../idempotency.js';
import { ResultCache } from '../result-cache.js';
import { Webhooks } from '../webhooks.js';
import { links, toExplanation } from '../explanation-view.js';
import { SHUTDOWN_RETRY_AFTER_S } from '../lifecycle.js';
import {
  ErrorSchema,
  EventsHeaders,
  EventStreamResponse,
  ExplanationSchema,
  IdParams,
  SubmissionBody,
  SubmitHeaders,
  SubmitQuery,
  SubmitResponses,
} from '../schemas.js';
import {
  type Submission,
  checkImage,
  checkSubmission,
  checkTensor,
  chooseModel,
  methodParams,
  newPayload,
  readJson,
  readMultipart,
  resolvedParams,
  targetCount,
  targetIndex,
  targetsField,
  metricsField,
} from '../submission.js';

const MAX_WAIT_S = 60;
/** Retry-After of a full embedded store: its blobs free up as jobs finish and expire. */
const STORE_RETRY_AFTER_S = 30;
const FINAL = new Set(['completed', 'failed', 'cancelled']);

/** `?wait=N` (0–60, else 400) or `Prefer: wait=N` (a preference: capped at 60 s, RFC 7240). */
function waitSeconds(request: FastifyRequest): number {
  const query = request.query as Record<string, unknown>;
  const unknown = Object.keys(query).filter((k) => k !== 'wait');
  if (unknown.length > 0) throw apiError('SALIENCY_VALIDATION', [`unknown query parameter(s) ${unknown.join(', ')}; POST takes only ?wait`]);
  const fromQuery = query['wait'];
  if (Array.isArray(fromQuery)) throw apiError('SALIENCY_VALIDATION', ['wait is sent more than once']);
  if (fromQuery !== undefined) {
    // The route's query schema has already coerced it to a number; a string is checked here too.
    const value = typeof fromQuery === 'number' ? fromQuery : typeof fromQuery === 'string' && fromQuery.trim() !== '' ? Number(fromQuery) : NaN;
    if (!(value >= 0 && value <= MAX_WAIT_S))
      throw apiError('SALIENCY_VALIDATION', [`wait must be a number of seconds from 0 to ${MAX_WAIT_S}, got ${JSON.stringify(fromQuery)}`]);
    return value;
  }
  const fromHeader = /(?:^|[,;\s])wait=(\d+)/.exec(String(request.headers.prefer ?? ''))?.[1];
  return Math.min(Number(fromHeader ?? 0), MAX_WAIT_S);
}

export async function loadOwnedStatus(deps: GatewayDeps, request: FastifyRequest, id: string): Promise<JobStatus> {
  // Ids are the gateway's own UUIDs: nothing else is looked up (in Redis, BullMQ's keys sit beside the jobs').
  if (!isJobId(id)) throw apiError('SALIENCY_NOT_FOUND', [id]);
  let status: JobStatus | undefined;
  try {
    status = await deps.queue.status(id);
  } catch (err) {
    if (err instanceof QueueUnavailableError) throw apiError('SALIENCY_UNAVAILABLE', [], { 'retry-after': '5' });
    throw err;
  }
  // Another key's job is indistinguishable from a missing one; so is a deleted one.
  if (!status || (status.payload.owner ?? undefined) !== request.owner) throw apiError('SALIENCY_NOT_FOUND', [id]);
  if (await deps.store.get(keys.deleted(id))) throw apiError('SALIENCY_NOT_FOUND', [id]);
  return status;
}

/** Which representation an Accept header asks for, when it is not JSON. */
function negotiated(accept: string): 'heatmap' | 'attribution' | 'events' | undefined {
  const first = accept.split(',')[0]?.split(';')[0]?.trim();
  if (first === 'image/png') return 'heatmap';
  if (first === 'application/x-npy' || first === 'application/octet-stream') return 'attribution';
  if (first === 'text/event-stream') return 'events';
  return undefined;
}

/** Resolves when every job is final, after `seconds`, or as soon as the server starts draining. */
function waitForFinal(deps: GatewayDeps, ids: string[], seconds: number): Promise<void> {
  const shutdown = deps.lifecycle?.signal;
  if (seconds <= 0 || ids.length === 0 || shutdown?.aborted === true) return Promise.resolve();
  return new Promise((resolve) => {
    let pending = ids.length;
    const stops: (() => void)[] = [];
    const finish = () => {
      clearTimeout(timer);
      shutdown?.removeEventListener('abort', finish);
      for (const stop of stops) stop();
      resolve();
    };
    const timer = setTimeout(finish, seconds * 1000);
    // Shutting down: answer now (202 with the ids) rather than leave the client with a cut connection.
    shutdown?.addEventListener('abort', finish, { once: true });
    for (const id of ids) {
      let done = false;
      const settle = () => {
        if (done) return;
        done = true;
        if (--pending === 0) finish();
      };
      stops.push(deps.queue.subscribe(id, (e) => e.type !== 'progress' && settle()));
      // The job may have finished before the subscription existed.
      void deps.queue.status(id).then(
        (s) => s && FINAL.has(s.state) && settle(),
        () => undefined,
      );
    }
  });
}

/** Undoes a refused submission: its submitted jobs are cancelled and forgotten, its blobs deleted. */
async function rollBack(deps: GatewayDeps, payloads: JobPayload[]): Promise<void> {
  for (const payload of payloads) {
    await deps.queue.remove(payload.id);
    await deps.store.delete(payload.input.key, ...(payload.baselineKey ? [payload.baselineKey] : []));
  }
}

function recordOutcome(deps: GatewayDeps, metrics: Metrics, id: string, method: string, model: string): void {
  const stop = deps.queue.subscribe(id, (event: JobEvent) => {
    if (event.type === 'progress') return;
    stop();
    metrics.finished.inc({ state: event.type, method, model });
    const code = event.type === 'failed' ? event.error.code : event.type === 'cancelled' ? JOB_CANCELLED : undefined;
    if (event.type === 'failed') metrics.failures.inc({ code: event.error.code, method });
    const computeSeconds = event.type === 'completed' ? event.result.timings.computeMs / 1000 : undefined;
    if (computeSeconds !== undefined) metrics.compute.observe({ method, model }, computeSeconds);
    if (event.type === 'completed') observeQuality(metrics.quality, { method, model }, event.result);
    // The queue wait needs the job's timestamps: one status read per finished job.
    void deps.queue.status(id).then(
      (status) => {
        const waitSeconds = status?.startedAt !== undefined ? (status.startedAt - status.submittedAt) / 1000 : undefined;
        if (waitSeconds !== undefined) metrics.queueWait.observe({ method, model }, waitSeconds);
        metrics.worker?.observe({
          method,
          model,
          state: event.type,
          ...(code !== undefined && { code }),
          ...(waitSeconds !== undefined && { waitSeconds }),
          ...(computeSeconds !== undefined && { computeSeconds }),
        });
      },
      () => undefined,
    );
  });
}

export function explanationRoutes(app: FastifyInstance, deps: GatewayDeps, metrics: Metrics): void {
  const { config, queue, store, registry } = deps;
  const streamEvents = eventStreams(app, deps);
  const idempotency = new Idempotency(store, config.IDEMPOTENCY_TTL_SECONDS);
  const resultCache = new ResultCache(store, queue, config.RESULT_TTL_SECONDS, config.RESULT_CACHE);
  const webhooks = new Webhooks(config, queue, app.log);
  webhooks.start();

  app.post(
    '/v1/explanations',
    {
      schema: {
        summary: 'Explain one or more images (or a preprocessed tensor)',
        description:
          "multipart/form-data with one or more `image` files (or one `tensor` .npy file, float32, already preprocessed), an optional `baseline` .npy for baseline=uploaded, and fields `model`, `method`, `target` (index or label) or `targets` (several classes in one job: `3,7,tabby`, a JSON array, or `top-k`; one map per class, chosen with ?target= on the renderings) and the method's parameters (GET /v1/methods). Also application/json with the files base64-encoded (`image`, `images`, `tensor`, `baseline`). One job per image. `Prefer: wait=N` (or ?wait=N, N ≤ 60) waits for completion and answers 200 when every job finished in time.",
        querystring: SubmitQuery,
        headers: SubmitHeaders,
        bodyReadByHandler: SubmissionBody,
        response: SubmitResponses,
      },
      // A submission refused before any job existed leaves its Idempotency-Key free.
      onError: idempotency.onError,
    },
    async (request, reply) => {
      const wait = waitSeconds(request);
      let submission: Submission;
      if (request.isMultipart()) submission = await readMultipart(request, config);
      else if (String(request.headers['content-type'] ?? '').startsWith('application/json')) submission = readJson(request.body, config);
      else throw apiError('SALIENCY_UNSUPPORTED_MEDIA_TYPE', [String(request.headers['content-type'] ?? 'no content type')]);
      // Idempotency-Key: a retry of an answered request gets that answer again, and no new jobs.
      const replay = await idempotency.begin(request, submission);
      if (replay) return reply.code(replay.statusCode).headers(replay.headers).send(replay.body);

      const webhook = webhooks.forSubmission(submission.fields['webhook'], request.owner);
      const entry = chooseModel(registry, submission.fields['model']);
      const { params, resolved } = resolvedParams(methodParams(submission.fields, config));
      const several = targetsField(entry, submission.fields['targets'], submission.fields['target']);
      const quality = metricsField(submission.fields);
      // random-logit explains the image once more.
      checkSubmission(submission, entry, params, config, targetCount(several) * (quality?.names.includes('random-logit') ? 2 : 1));
      const target = targetIndex(entry, submission.fields['target']);
      const inputs = submission.tensor ? [submission.tensor] : submission.images;
      if (inputs.length === 0 || (submission.tensor && submission.images.length > 0)) throw apiError('SALIENCY_NO_INPUT');
      if (submission.tensor) checkTensor(submission.tensor, entry, 'the tensor');
      else for (const image of submission.images) await checkImage(image, config);
      if (params.baseline === 'uploaded') {
        if (!submission.baseline) throw apiError('SALIENCY_VALIDATION', ["baseline=uploaded needs a 'baseline' .npy file"]);
        checkTensor(submission.baseline, entry, 'the baseline');
      }

      const kind = submission.tensor ? 'tensor' : 'image';
      const statuses: JobStatus[] = [];
      const stored: JobPayload[] = [];
      const cached = new Set<string>();
      try {
        if ((await queue.depth()) + inputs.length > config.MAX_QUEUE_DEPTH) throw new QueueFullError('full');
        for (const input of inputs) {
          const cacheKey = resultCache.key(request.owner, {
            modelHash: entry.hash,
            kind,
            input: input.bytes,
            ...(submission.baseline ? { baseline: submission.baseline.bytes } : {}),
            resolved,
            target,
            extra: { several, quality },
          });
          const hit = await resultCache.lookup(request, cacheKey);
          // With a webhook only a completed job answers: its delivery goes out now. One still
          // running is computed anew, so this submission's webhook cannot be lost waiting for it.
          if (hit && (!webhook || hit.state === 'completed')) {
            if (webhook) await queue.notify(hit.id, webhook);
            statuses.push(hit);
            cached.add(hit.id);
            continue;
          }
          const payload = newPayload(entry, params, target, kind, request.owner, input.filename, several, quality);
          stored.push(payload);
          await store.put(payload.input.key, input.bytes, config.INPUT_TTL_SECONDS);
          if (submission.baseline && payload.baselineKey) await store.put(payload.baselineKey, submission.baseline.bytes, config.INPUT_TTL_SECONDS);
          await queue.submit(payload, webhook ? { webhook } : {});
          metrics.submitted.inc({ method: params.method, model: entry.id });
          recordOutcome(deps, metrics, payload.id, params.method, entry.id);
          statuses.push({ id: payload.id, state: 'queued', payload, attempts: 0, submittedAt: payload.submittedAt });
          await resultCache.remember(request, cacheKey, payload.id);
        }
      } catch (err) {
        // All or nothing: the request is refused, so none of its jobs may run or keep blobs.
        await rollBack(deps, stored).catch((cause: unknown) => request.log.warn({ err: cause }, 'roll-back of a refused submission failed'));
        if (err instanceof QueueFullError) throw apiError('SALIENCY_QUEUE_FULL', [config.MAX_QUEUE_DEPTH], { 'retry-after': '10' });
        // Its upload began before the server started draining.
        if (deps.lifecycle?.draining === true)
          throw apiError('SALIENCY_SHUTTING_DOWN', [SHUTDOWN_RETRY_AFTER_S], { 'retry-after': String(SHUTDOWN_RETRY_AFTER_S) });
        if (err instanceof Error && (err.name === 'StoreFullError' || err.name === 'BlobTooLargeError')) {
          throw apiError('SALIENCY_STORE_FULL', [STORE_RETRY_AFTER_S], { 'retry-after': String(STORE_RETRY_AFTER_S) });
        }
        // Only the store and the queue are called here: any other failure is the backend's.
        request.log.error({ err }, 'job backend unavailable');
        throw apiError('SALIENCY_UNAVAILABLE', [], { 'retry-after': '5' });
      }
      request.log.info({ jobs: statuses.map((s) => s.id), model: entry.id, method: params.method }, 'explanations queued');
      const answer = (list: JobStatus[]) => ({
        explanations: list.map((s) => ({ ...toExplanation(s, resolved), ...(cached.has(s.id) ? { cached: true } : {}) })),
      });
      const location = statuses.length === 1 ? `/v1/explanations/${statuses[0]?.id}` : undefined;
      idempotency.accepted(request, { statusCode: 202, body: answer(statuses), ...(location && { location }) });

      await waitForFinal(
        deps,
        statuses.map((s) => s.id),
        wait,
      );
      const latest = await Promise.all(statuses.map(async (s) => (wait > 0 ? ((await queue.status(s.id).catch(() => undefined)) ?? s) : s)));
      const allDone = latest.every((s) => FINAL.has(s.state));
      reply.code(wait > 0 && allDone ? 200 : 202);
      if (location) reply.header('location', location);
      const body = answer(latest);
      await idempotency.complete(request, reply, body);
      return body;
    },
  );

  app.get(
    '/v1/explanations/:id',
    {
      schema: {
        summary: 'Status, progress, prediction and result summary of one explanation',
        description:
          'JSON by default. With Accept: image/png, application/x-npy or text/event-stream it redirects (303) to heatmap.png, attribution.npy or events, keeping the query.',
        params: IdParams,
        response: { 200: ExplanationSchema, 303: { description: 'See Other: the rendering the Accept header asked for', type: 'null' }, '4xx': ErrorSchema },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const status = await loadOwnedStatus(deps, request, id);
      // Content negotiation: the same URL answers with a rendering when that is what is accepted.
      const alternative = negotiated(String(request.headers.accept ?? ''));
      if (alternative) {
        const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
        return reply.redirect(`${links(id)[alternative]}${query}`, 303);
      }
      return toExplanation(status);
    },
  );

  app.get(
    '/v1/explanations/:id/events',
    {
      schema: {
        summary: 'Server-Sent Events: progress, then the final state',
        description:
          'text/event-stream. Events: `status` (the current state, first), `progress` ({done,total,stage}), and one final `completed`, `failed` or `cancelled` carrying the explanation; then the stream ends. A job that already ended gets `status` and its final event. Every event has an `id:` naming the state it reports; reconnecting with `Last-Event-ID` skips what was already seen, and 204 answers a client that saw the final event. Comment lines are heartbeats.',
        params: IdParams,
        headers: EventsHeaders,
        response: {
          200: EventStreamResponse,
          204: { description: 'The final event was already delivered (Last-Event-ID): stop reconnecting', type: 'null' },
          '4xx': ErrorSchema,
        },
      },
    },
    async (request, reply) => streamEvents(request, reply, await loadOwnedStatus(deps, request, (request.params as { id: string }).id)),
  );

  app.delete(
    '/v1/explanations/:id',
    {
      schema: {
        summary: 'Cancel (a running job stops at its next graph run) and delete',
        params: IdParams,
        response: { 204: { description: 'Deleted', type: 'null' }, '4xx': ErrorSchema },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const status = await loadOwnedStatus(deps, request, id);
      if (!FINAL.has(status.state)) await queue.cancel(id);
      // A running job cannot be removed until its worker stops: hide it from now on.
      await store.put(keys.deleted(id), Buffer.from('1'), config.RESULT_TTL_SECONDS);
      await queue.remove(id).catch((err: unknown) => request.log.info({ err, jobId: id }, 'job removal deferred to its expiry'));
      await store.delete(keys.input(id), keys.baseline(id), keys.attribution(id));
      await store.deletePrefix(keys.rendering(id, ''));
      request.log.info({ jobId: id, state: status.state }, 'explanation deleted');
      return reply.code(204).send();
    },
  );
}
