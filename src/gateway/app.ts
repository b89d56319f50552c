// The gateway as a Fastify instance that never listens (server.ts does): plugins, routes, the
// one error handler. Tests drive it with app.inject or a real listen on port 0.
import multipart from '@fastify/multipart';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { corsOrigins, trustedProxies } from '../config/config.js';
import { NpyError } from '../imaging/npy.js';
import { RenderBusyError, RenderPool } from '../imaging/render-pool.js';
import { type GatewayDeps, createMetrics } from './deps.js';
import { ApiError, ERRORS, type ErrorCode, apiError, codedError } from './errors.js';
import { boundaryOptions } from './framework-errors.js';
import { Lifecycle, registerLifecycle } from './lifecycle.js';
import { registerOpenapi } from './openapi.js';
import { registerAccess } from './plugins/access.js';
import { jsonBodyLimit, multipartLimits } from './plugins/body-limits.js';
import { registerJsonBody } from './plugins/json-body.js';
import { guardV1Scope, markV1Routes, routeV1NotFound } from './plugins/v1-scope.js';
import { registerCors } from './plugins/cors.js';
import { catalogueRoutes } from './routes/catalogue.js';
import { docsRoutes } from './routes/docs.js';
import { explanationRoutes } from './routes/explanations.js';
import { operationRoutes } from './routes/operations.js';
import { renderingRoutes } from './routes/renderings.js';
import { webRoutes } from './routes/web.js';

export const API_VERSION = '1.0.0';

/**
 * The catalogue error of an error class that carries its own meaning, wherever a route let it
 * through: a coded error (ImageError from src/imaging, JobInputError, anything with a catalogue
 * `code`), a full render pool, a malformed .npy. Everything else stays an internal error.
 */
function knownError(err: unknown): ApiError | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && Object.hasOwn(ERRORS, code)) return codedError(code as ErrorCode, err.message);
  if (err instanceof RenderBusyError) return apiError('SALIENCY_RENDER_BUSY', [], { 'retry-after': '2' });
  if (err instanceof NpyError) return apiError('SALIENCY_BAD_TENSOR', [err.message]);
  return undefined;
}

/** Ajv's first error, naming the offending parameter (Fastify's own message leaves it out for unknown ones). */
function validationMessage(err: FastifyError): string {
  const first = err.validation?.[0];
  const extra = (first?.params as { additionalProperty?: unknown } | undefined)?.additionalProperty;
  if (typeof extra === 'string') return `unknown ${err.validationContext ?? 'request'} parameter '${extra}'`;
  // ajv's own message names the place as `querystring/wait`: say it once, as a parameter.
  const name = first?.instancePath?.slice(1).replace(/\//g, '.');
  if (name && first?.message) return `${err.validationContext ?? 'request'} parameter ${name} ${first.message}`;
  return `${err.validationContext ?? ''} ${err.message}`.trim();
}

export interface AppOptions {
  logger?: FastifyBaseLogger | boolean;
}

export async function buildApp(given: GatewayDeps, options: AppOptions = {}): Promise<FastifyInstance> {
  const deps: GatewayDeps = { ...given, lifecycle: given.lifecycle ?? new Lifecycle() };
  const { config } = deps;
  const app = Fastify({
    ...(typeof options.logger === 'object' ? { loggerInstance: options.logger } : { logger: options.logger ?? false }),
    // Checked from Content-Length and while reading, before any JSON is parsed or base64 decoded.
    bodyLimit: jsonBodyLimit(config),
    trustProxy: trustedProxies(config),
    genReqId: () => crypto.randomUUID(),
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false } },
    ...boundaryOptions(config),
  });
  // The OpenAPI document is collected from the routes as they register: before any of them.
  await registerOpenapi(app, API_VERSION);
  const metrics = createMetrics(deps);
  // CORS before authentication and rate limits: preflights carry no API key.
  await registerCors(app, corsOrigins(config));

  registerJsonBody(app);
  await app.register(multipart, { limits: multipartLimits(config), throwFileSizeLimit: true });
  guardV1Scope(app);
  registerLifecycle(app, deps.lifecycle as Lifecycle);
  // Heatmaps and overlays are coloured in worker threads, never on this event loop.
  const renderer = new RenderPool({ threads: config.RENDER_THREADS, maxPixels: config.MAX_RENDER_PIXELS, limitInputPixels: config.MAX_IMAGE_PIXELS });
  app.addHook('onClose', async () => renderer.close());

  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, never the URL: ids in paths would make one series per job.
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requestDuration.observe({ method: request.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((err: FastifyError | ApiError, request, reply) => {
    let error: ApiError;
    const known = err instanceof ApiError ? err : knownError(err);
    if (known) error = known;
    else if ((err as FastifyError).validation) error = apiError('SALIENCY_VALIDATION', [validationMessage(err as FastifyError)]);
    else if ((err as FastifyError).code === 'FST_REQ_FILE_TOO_LARGE' || (err as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      error = apiError('SALIENCY_PAYLOAD_TOO_LARGE', [config.MAX_UPLOAD_BYTES]);
    else if ((err as FastifyError).code === 'FST_FILES_LIMIT' || (err as FastifyError).code === 'FST_PARTS_LIMIT')
      error = apiError('SALIENCY_TOO_MANY_FILES', [config.MAX_FILES]);
    else if ((err as FastifyError).code === 'FST_FIELDS_LIMIT') error = apiError('SALIENCY_BAD_REQUEST', ['too many form fields']);
    else if ((err as FastifyError).code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      error = apiError('SALIENCY_UNSUPPORTED_MEDIA_TYPE', [String(request.headers['content-type'])]);
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

  // Every /v1 route lives in this one encapsulated scope, so its access hook (API key, then the
  // rate limit) runs for all of them; guardV1Scope refuses to start if one is registered outside.
  await app.register(async (v1) => {
    markV1Routes(v1);
    await registerAccess(v1, config, app.log);
    explanationRoutes(v1, deps, metrics);
    renderingRoutes(v1, deps, renderer);
    catalogueRoutes(v1, deps);
    routeV1NotFound(v1);
  });
  operationRoutes(app, deps, metrics);
  webRoutes(app);
  await docsRoutes(app);
  return app;
}
