// Refuses to start a gateway with a /v1 route outside the authenticated scope. Routes anywhere
// in the app are seen by the root's onRoute hook; the ones that carry the scope's access hook
// are marked by the scope itself (markV1Route). A route added later in the wrong place (say,
// straight on the root instance) fails every start, not a security review.
import { type FastifyInstance, type RouteOptions } from 'fastify';
import { apiError } from '../errors.js';

const IN_SCOPE = Symbol('saliency.v1Scope');
type Marked = RouteOptions & { [IN_SCOPE]?: true };

/** Call inside the /v1 scope, before its routes register. */
export function markV1Routes(scope: FastifyInstance): void {
  scope.addHook('onRoute', (route) => {
    (route as Marked)[IN_SCOPE] = true;
  });
}

/** Call on the root instance before any route registers. */
export function guardV1Scope(app: FastifyInstance): void {
  const outside: string[] = [];
  app.addHook('onRoute', (route) => {
    // Child hooks run after the root's: look once every hook has seen the route.
    queueMicrotask(() => {
      if (/^\/+v1(\/|$)/i.test(route.url) && !(route as Marked)[IN_SCOPE]) outside.push(`${String(route.method)} ${route.url}`);
    });
  });
  app.addHook('onReady', async () => {
    if (outside.length > 0) throw new Error(`routes outside the authenticated /v1 scope: ${outside.join(', ')}`);
  });
}

/**
 * Unknown paths under /v1 are routes of the scope too, so the access hook answers them first (401
 * without a key, 429 over the limit) and only a caller who may see the API learns what is not
 * there. The router decodes and folds the path before matching (`/%76%31/nope` is `/v1/nope`),
 * and a wildcard loses to every real route. OPTIONS stays with the root: a preflight carries no
 * key, and CORS (or its 404) answers it. HEAD comes with GET.
 */
export function routeV1NotFound(scope: FastifyInstance): void {
  const handler = async (request: { method: string; url: string }) => {
    throw apiError('SALIENCY_NO_ROUTE', [request.method, request.url]);
  };
  for (const url of ['/v1', '/v1/*']) scope.route({ method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], url, schema: { hide: true }, handler });
}
