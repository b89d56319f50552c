// GET /openapi.json and /docs: the document @fastify/swagger builds from the route schemas, and
// Swagger UI rendering it.
import swaggerUi from '@fastify/swagger-ui';
import { type FastifyInstance } from 'fastify';

/** GET /openapi.json and the /docs page (Swagger UI, its assets served from this package: no CDN). */
export async function docsRoutes(app: FastifyInstance): Promise<void> {
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // No badge fetched from an outside validator: the page works offline.
    uiConfig: { validatorUrl: null, deepLinking: true, defaultModelsExpandDepth: 1 },
    theme: { title: 'saliency-server API' },
    staticCSP:
      "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  });
}
