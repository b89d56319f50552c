// Cross-origin access for browser apps on other origins (dashboards), off unless CORS_ORIGINS names
// them. Preflights are answered in an onRequest hook registered before authentication and rate
// limiting: a browser sends no credentials on a preflight, so it must not meet the key check.
import cors from '@fastify/cors';
import { type FastifyInstance } from 'fastify';

/** Request headers a browser client may send: credentials, bodies, waiting, idempotency, SSE resume. */
export const CORS_ALLOWED_HEADERS = ['authorization', 'x-api-key', 'content-type', 'prefer', 'idempotency-key', 'last-event-id'];

/** Response headers a browser client may read besides the CORS-safelisted ones. */
export const CORS_EXPOSED_HEADERS = [
  'location',
  'retry-after',
  'content-disposition',
  'x-saliency-scale',
  'x-saliency-clip',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
];

export async function registerCors(app: FastifyInstance, origins: readonly string[]): Promise<void> {
  if (origins.length === 0) return;
  await app.register(cors, {
    // Exact origins (no patterns); '*' allows any. Keys travel in headers, never cookies: no credentials mode.
    origin: origins.includes('*') ? '*' : [...origins],
    methods: ['GET', 'HEAD', 'POST', 'DELETE'],
    allowedHeaders: CORS_ALLOWED_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    credentials: false,
    maxAge: 600,
    // A non-strict preflight is answered 204 even without Origin; the strict one answers a
    // text/plain 400, which is not the API's error shape.
    strictPreflight: false,
  });
}
