// Shutdown as clients see it. Once draining: new work (POST) and /readyz answer 503
// SALIENCY_SHUTTING_DOWN in the usual error shape, requests waiting with `Prefer: wait` are
// answered at once with 202 and their job ids (the signal ends their wait), and everything else —
// status polls, renderings — is still served until the HTTP server closes.
import { type FastifyInstance } from 'fastify';
import { apiError } from './errors.js';

/** How long a client is told to wait before retrying a draining server. */
export const SHUTDOWN_RETRY_AFTER_S = 5;

export class Lifecycle {
  private readonly controller = new AbortController();

  get draining(): boolean {
    return this.controller.signal.aborted;
  }

  /** Aborted when draining starts. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  drain(): void {
    if (!this.draining) this.controller.abort();
  }
}

/** Refuses new work while draining; drains when the app closes (if nothing drained it before). */
export function registerLifecycle(app: FastifyInstance, lifecycle: Lifecycle): void {
  app.addHook('preClose', async () => lifecycle.drain());
  app.addHook('onRequest', async (request) => {
    if (!lifecycle.draining) return;
    // The matched route, not the URL string: every spelling of the path is the same route.
    if (request.method !== 'POST' && request.routeOptions.url !== '/readyz') return;
    // No `connection: close`: the client may still be sending its body, and a socket closed under
    // it reads as a reset instead of this answer. Node reads and drops the rest of the body.
    throw apiError('SALIENCY_SHUTTING_DOWN', [SHUTDOWN_RETRY_AFTER_S], { 'retry-after': String(SHUTDOWN_RETRY_AFTER_S) });
  });
}
