// API keys. With keys configured, every route of the /v1 scope needs one (Authorization: Bearer
// or X-API-Key); the request then carries the key's hash as its owner, and jobs are visible only
// to it. This file only identifies the caller: the scope's access hook (access.ts) counts the
// request against the rate limit first, so failed guesses are limited like any other request.
import { createHash, timingSafeEqual } from 'node:crypto';
import { type FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** Hash of the caller's API key; undefined when authentication is off. */
    owner?: string;
  }
}

export interface Identity {
  /** The key's hash (the jobs' owner) when a configured key was presented. */
  owner?: string;
  /** Keys are configured and none of them was presented. */
  rejected: boolean;
}

const sha256 = (key: string) => createHash('sha256').update(key, 'utf8').digest();

/** The key a request presents: `Authorization: Bearer <key>` (scheme case-insensitive, RFC 7235 §2.1) or `X-API-Key`. */
export function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    const match = /^bearer[ \t]+(.+)$/i.exec(header.trim());
    if (match?.[1]) return match[1].trim();
  }
  const apiKey = request.headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey !== '' ? apiKey : undefined;
}

/**
 * Compares the presented key with every configured one as SHA-256 digests of equal length, with
 * timingSafeEqual and without stopping at a match: the time taken says nothing about which
 * key, or how much of one, was right.
 */
export function createAuthenticator(keys: readonly string[]): (request: FastifyRequest) => Identity {
  if (keys.length === 0) return () => ({ rejected: false });
  const known = keys.map(sha256);
  return (request) => {
    const key = presentedKey(request);
    const digest = sha256(key ?? '');
    let match = false;
    for (const k of known) match = timingSafeEqual(k, digest) || match;
    if (key === undefined || !match) return { rejected: true };
    return { owner: digest.toString('hex').slice(0, 32), rejected: false };
  };
}
