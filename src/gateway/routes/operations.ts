// /healthz, /readyz and /metrics: what an operator and an orchestrator ask.
import { type FastifyInstance } from 'fastify';
import { type GatewayDeps, type Metrics } from '../deps.js';
import { HealthSchema, MetricsResponse, ReadinessResponses } from '../schemas.js';
import { apiError } from '../errors.js';
import { metricsAuthorized } from '../metrics.js';

export function operationRoutes(app: FastifyInstance, deps: GatewayDeps, metrics: Metrics): void {
  app.get('/healthz', { schema: { summary: 'The process is up', response: { 200: HealthSchema } } }, async () => ({ status: 'ok' }));

  app.get(
    '/readyz',
    { schema: { summary: 'Ready to accept work: backend reachable, models loaded, workers seen', response: ReadinessResponses } },
    async (_request, reply) => {
      const backend = await deps.queue.ready().catch(() => false);
      const workers = backend ? await deps.queue.workers().catch(() => 0) : 0;
      const models = deps.registry.list().length;
      const ready = backend && models > 0 && workers > 0;
      reply.code(ready ? 200 : 503);
      if (!ready) reply.header('retry-after', '5');
      return { status: ready ? 'ready' : 'not ready', mode: deps.mode, backend, workers, models };
    },
  );

  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics (Authorization: Bearer <METRICS_TOKEN> when one is set)', response: { 200: MetricsResponse } } },
    async (request, reply) => {
      if (!metricsAuthorized(deps.config.METRICS_TOKEN, request.headers.authorization)) throw apiError('SALIENCY_UNAUTHORIZED');
      return reply.header('content-type', metrics.register.contentType).send(await metrics.register.metrics());
    },
  );
}
