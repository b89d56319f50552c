// Refuses to start a gateway with a /v1 route outside the authenticated scope. Routes anywhere
// in the app are seen by the root's onRoute hook; the ones that carry the scope's access hook
// are marked by the scope itself (markV1Route). A route added later in the wrong place (say,
// straight on the root instance) fails every start, not a security review.
import { type FastifyInstance, type RouteOptions } from 'fastify';

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
