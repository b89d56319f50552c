// The gateway as a Fastify instance that never listens (server.ts does): plugins, routes, the
// one error handler. Tests drive it with app.inject or a real listen on port 0.
import multipart from '@fastify/multipart';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { type GatewayDeps, createMetrics } from './deps.js';
import { ApiError, apiError } from './errors.js';
import { registerOpenapi } from './openapi.js';
import { registerAuth } from './plugins/auth.js';
import { registerRateLimit } from './plugins/rate-limit.js';
import { apiKeys, corsOrigins } from '../config/config.js';
import { registerCors } from './plugins/cors.js';
import { catalogueRoutes } from './routes/catalogue.js';
import { docsRoutes } from './routes/docs.js';
import { explanationRoutes } from './routes/explanations.js';
import { operationRoutes } from './routes/operations.js';
import { renderingRoutes } from './routes/renderings.js';
import { webRoutes } from './routes/web.js';

export const API_VERSION = '1.0.0';

export interface AppOptions {
  logger?: FastifyBaseLogger | boolean;
}

export async function buildApp(deps: GatewayDeps, options: AppOptions = {}): Promise<FastifyInstance> {
  const { config } = deps;
  const app = Fastify({
    ...(typeof options.logger === 'object' ? { loggerInstance: options.logger } : { logger: options.logger ?? false }),
    // base64 JSON uploads are 4/3 of the bytes.
    bodyLimit: Math.ceil((config.MAX_UPLOAD_BYTES * (config.MAX_FILES + 1) * 4) / 3) + 64 * 1024,
    genReqId: () => crypto.randomUUID(),
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false } },
  });
  // The OpenAPI document is collected from the routes as they register: before any of them.
  await registerOpenapi(app, API_VERSION);
  const metrics = createMetrics(deps);
  // CORS before authentication and rate limits: preflights carry no API key.
  await registerCors(app, corsOrigins(config));

  await app.register(multipart, {
    limits: { fileSize: config.MAX_UPLOAD_BYTES, files: config.MAX_FILES + 2, fields: 40, fieldSize: 64 * 1024, parts: config.MAX_FILES + 44, headerPairs: 200 },
    throwFileSizeLimit: true,
  });
  registerAuth(app, apiKeys(config));
  registerRateLimit(app, config.RATE_LIMIT_PER_MINUTE);

  app.addHook('onResponse', async (request, reply) => {
    metrics.requests.inc({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) });
  });

  app.setErrorHandler((err: FastifyError | ApiError, request, reply) => {
    let error: ApiError;
    if (err instanceof ApiError) error = err;
    else if ((err as FastifyError).validation) error = apiError('SALIENCY_VALIDATION', [`${(err as FastifyError).validationContext ?? ''} ${err.message}`.trim()]);
    else if ((err as FastifyError).code === 'FST_REQ_FILE_TOO_LARGE' || (err as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE') error = apiError('SALIENCY_PAYLOAD_TOO_LARGE', [config.MAX_UPLOAD_BYTES]);
    else if ((err as FastifyError).code === 'FST_FILES_LIMIT' || (err as FastifyError).code === 'FST_PARTS_LIMIT') error = apiError('SALIENCY_TOO_MANY_FILES', [config.MAX_FILES]);
    else if ((err as FastifyError).code === 'FST_FIELDS_LIMIT') error = apiError('SALIENCY_BAD_REQUEST', ['too many form fields']);
    else if ((err as FastifyError).code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') error = apiError('SALIENCY_UNSUPPORTED_MEDIA_TYPE', [String(request.headers['content-type'])]);
    else if ((err as FastifyError).statusCode && (err as FastifyError).statusCode! < 500) error = apiError('SALIENCY_BAD_REQUEST', [err.message]);
    else {
      request.log.error({ err }, 'unhandled error');
      error = apiError('SALIENCY_INTERNAL', [request.id]);
    }
    if (error.statusCode >= 500) request.log.warn({ code: error.code }, error.message);
    return reply
      .code(error.statusCode)
      .headers(error.headers)
      .send({ error: { code: error.code, message: error.message, requestId: request.id } });
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: { code: 'SALIENCY_NO_ROUTE', message: `no route ${request.method} ${request.url}; see /docs`, requestId: request.id } }),
  );

  explanationRoutes(app, deps, metrics);
  renderingRoutes(app, deps);
  catalogueRoutes(app, deps);
  operationRoutes(app, deps, metrics);
  webRoutes(app);
  await docsRoutes(app);
  return app;
}
