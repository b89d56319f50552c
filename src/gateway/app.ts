// The gateway as a Fastify instance that never listens (server.ts does): plugins, routes, the
// one error handler. Tests drive it with app.inject or a real listen on port 0.
import multipart from '@fastify/multipart';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { type GatewayDeps, createMetrics } from './deps.js';
import { ApiError, apiError } from './errors.js';
import { collectRoutes, openapiDocument } from './openapi.js';
import { registerAuth } from './plugins/auth.js';
import { registerRateLimit } from './plugins/rate-limit.js';
import { apiKeys } from '../config/config.js';
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
  const routes = collectRoutes(app);
  const metrics = createMetrics(deps);

  await app.register(multipart, {
    limits: { fileSize: config.MAX_UPLOAD_BYTES, files: config.MAX_FILES + 2, fields: 40, fieldSize: 64 * 1024, parts: config.MAX_FILES + 44, headerPairs: 200 },
    throwFileSizeLimit: true,
  });
  registerAuth(app, apiKeys(config));
  registerRateLimit(app, config.RATE_LIMIT_PER_MINUTE);

  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, never the URL: ids in paths would make one series per job.
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requestDuration.observe({ method: request.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
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
    metrics.errors.inc({ code: error.code, status_code: String(error.statusCode) });
    return reply
      .code(error.statusCode)
      .headers(error.headers)
      .send({ error: { code: error.code, message: error.message, requestId: request.id } });
  });

  app.setNotFoundHandler((request) => {
    throw apiError('SALIENCY_NO_ROUTE', [request.method, request.url]);
  });

  explanationRoutes(app, deps, metrics);
  renderingRoutes(app, deps);
  catalogueRoutes(app, deps);
  operationRoutes(app, deps, metrics);
  webRoutes(app);
  docsRoutes(app, () => openapiDocument(routes, API_VERSION));
  return app;
}
