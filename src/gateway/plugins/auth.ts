// Optional API keys. With keys configured, every /v1 route needs one (Authorization: Bearer or
// X-API-Key); the request carries the key's hash as its owner, and jobs are visible only to it.
import { createHash, timingSafeEqual } from 'node:crypto';
import { type FastifyInstance, type FastifyRequest } from 'fastify';
import { apiError } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Hash of the caller's API key; undefined when authentication is off. */
    owner?: string;
  }
}

const hash = (key: string) => createHash('sha256').update(key).digest();

export function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice(7).trim();
  const apiKey = request.headers['x-api-key'];
  return typeof apiKey === 'string' ? apiKey : undefined;
}

export function registerAuth(app: FastifyInstance, keys: string[]): void {
  if (keys.length === 0) return;
  const known = keys.map(hash);
  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/v1/')) return;
    const key = presentedKey(request);
    const digest = key === undefined ? undefined : hash(key);
    if (!digest || !known.some((k) => timingSafeEqual(k, digest))) throw apiError('SALIENCY_UNAUTHORIZED');
    request.owner = digest.toString('hex').slice(0, 32);
  });
}
