// The /v1 scope's one onRequest hook: who is calling (auth.ts), how much they have called
// (rate-limit.ts), then the answer. A hook of the scope runs for every route registered in it,
// whatever spelling of the URL the router matched (percent-encoding, case, dot segments are the
// router's business): the boundary is the route, never a string test on the URL.
import { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { apiKeys, type Config } from '../../config/config.js';
import { apiError } from '../errors.js';
import { createAuthenticator } from './auth.js';
import { type LimitResult, registerRateLimit } from './rate-limit.js';

export async function registerAccess(scope: FastifyInstance, config: Config, logger: FastifyBaseLogger): Promise<void> {
  const identify = createAuthenticator(apiKeys(config));
  const limit = await registerRateLimit(scope, config, logger);

  scope.addHook('onRequest', async (request, reply) => {
    const identity = identify(request);
    if (identity.owner) request.owner = identity.owner;
    if (limit) {
      let result: LimitResult | undefined;
      try {
        result = await limit(request);
      } catch (err) {
        // The shared counters are unreachable (Redis down). A verified key passes (availability
        // for known clients); an unverified caller does not, so key guessing never goes uncounted.
        request.log.warn({ err }, 'rate limit store unavailable');
        if (!identity.owner) throw apiError('SALIENCY_UNAVAILABLE', [], { 'retry-after': '5' });
      }
      if (result && !result.isAllowed) {
        reply.header('x-ratelimit-limit', result.max).header('x-ratelimit-remaining', result.remaining).header('x-ratelimit-reset', result.ttlInSeconds);
        if (result.isExceeded) {
          const wait = Math.max(1, result.ttlInSeconds);
          throw apiError('SALIENCY_RATE_LIMITED', [wait], { 'retry-after': String(wait) });
        }
      }
    }
    if (identity.rejected) throw apiError('SALIENCY_UNAUTHORIZED', [], { 'www-authenticate': 'Bearer realm="saliency-server"' });
  });
}
