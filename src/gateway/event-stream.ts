// Server-Sent Events of one job (GET /v1/explanations/:id/events), per the HTML standard's
// "Server-sent events" section:
// - every event has an `id:`, derived from the job's state alone (`queued`, `running:<stage>:<done>/<total>`,
//   `completed`, `failed`, `cancelled`), so any gateway replica gives the same event the same id;
// - a reconnect with Last-Event-ID skips the first `status` when nothing changed since that id (the
//   state is a snapshot, not a log: the current one subsumes whatever was missed), and a client that
//   already saw the final event gets 204, which tells EventSource to stop reconnecting;
// - a subscriber that connects after the job ended gets `status` and the final event, then the end;
// - comment lines every SSE_HEARTBEAT_SECONDS keep proxies from closing an idle stream;
// - open streams end when the gateway closes, so shutdown never waits on a client.
import { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { type JobStatus, type Progress } from '../jobs/contract.js';
import { type GatewayDeps } from './deps.js';
import { toExplanation } from './explanation-view.js';

const FINAL = new Set(['completed', 'failed', 'cancelled']);

/** How long EventSource waits before reconnecting after a dropped stream. */
const RETRY_MS = 2000;

export const progressEventId = (p: Progress): string => `running:${p.stage.replace(/[\r\n:]/g, ' ')}:${p.done}/${p.total}`;

/** The id of the event that reports this state of the job. */
export function eventId(status: Pick<JobStatus, 'state' | 'progress'>): string {
  return status.state === 'running' && status.progress ? progressEventId(status.progress) : status.state;
}

function lastEventId(request: FastifyRequest): string | undefined {
  const header = request.headers['last-event-id'];
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  return value ? value : undefined;
}

export type StreamEvents = (request: FastifyRequest, reply: FastifyReply, status: JobStatus) => Promise<void>;

/** The handler of the events route; streams still open end when `app` closes. */
export function eventStreams(app: FastifyInstance, deps: GatewayDeps): StreamEvents {
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const close of [...open]) close();
  });
  const heartbeatMs = deps.config.SSE_HEARTBEAT_SECONDS * 1000;

  return async (request, reply, initial) => {
    const { id } = initial;
    const resumedFrom = lastEventId(request);
    if (FINAL.has(initial.state) && resumedFrom === eventId(initial)) {
      // The client has seen the end: 204 No Content stops EventSource's reconnecting.
      return void reply.code(204).send();
    }

    reply.hijack();
    const out = reply.raw;
    // Hijacked: headers set by hooks (CORS) are not written by Fastify any more, so they are passed on.
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) out.setHeader(name, value);
    out.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    let lastSent = resumedFrom;
    const send = (event: string, data: unknown, eventIdValue: string) => {
      if (out.writableEnded || out.destroyed) return;
      out.write(`id: ${eventIdValue}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      lastSent = eventIdValue;
    };
    out.write(`retry: ${RETRY_MS}\n\n`);

    const initialId = eventId(initial);
    if (initialId !== lastSent) send('status', toExplanation(initial), initialId);
    if (FINAL.has(initial.state)) {
      send(initial.state, toExplanation(initial), initialId);
      out.end();
      return;
    }

    let stop = () => {};
    const heartbeat = setInterval(() => {
      if (!out.writableEnded && !out.destroyed) out.write(': heartbeat\n\n');
    }, heartbeatMs);
    const close = () => {
      clearInterval(heartbeat);
      stop();
      open.delete(close);
      if (!out.writableEnded) out.end();
    };
    open.add(close);
    out.on('close', close);

    let finished = false;
    const finish = (state: string, fallback: unknown) => {
      if (finished) return;
      finished = true;
      // The final event carries the whole explanation as GET would show it.
      void deps.queue
        .status(id)
        .then((s) => send(state, s ? toExplanation(s) : fallback, state))
        .catch(() => send(state, fallback, state))
        .finally(close);
    };
    stop = deps.queue.subscribe(id, (event) => {
      if (event.type !== 'progress') return finish(event.type, event);
      const progressId = progressEventId(event.progress);
      if (progressId !== lastSent) send('progress', event.progress, progressId);
    });
    // It may have finished between the status read and the subscription.
    const again = await deps.queue.status(id).catch(() => undefined);
    if (again && FINAL.has(again.state)) finish(again.state, toExplanation(again));
  };
}
