// The OpenAPI document, generated from the routes' own schemas (collected as routes register),
// so it cannot drift from what the server validates. openapi/openapi.json is this, committed;
// a test fails when it is stale (regenerate with `npm run openapi`).
import { type FastifyInstance, type RouteOptions } from 'fastify';

declare module 'fastify' {
  interface FastifySchema {
    summary?: string;
    description?: string;
    consumes?: string[];
    produces?: string[];
    hide?: boolean;
  }
}

interface CollectedRoute {
  method: string;
  url: string;
  schema: NonNullable<RouteOptions['schema']>;
}

/** Starts collecting routes; call before registering them. */
export function collectRoutes(app: FastifyInstance): CollectedRoute[] {
  const routes: CollectedRoute[] = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD' || !route.schema || route.schema.hide) continue;
      routes.push({ method: method.toLowerCase(), url: route.url, schema: route.schema });
    }
  });
  return routes;
}

function stripIds(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(stripIds);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) if (k !== '$id') out[k] = stripIds(v);
  return out;
}

function parameters(schema: unknown, where: 'path' | 'query') {
  const properties = (schema as { properties?: Record<string, unknown>; required?: string[] } | undefined)?.properties ?? {};
  const required = new Set((schema as { required?: string[] } | undefined)?.required ?? []);
  return Object.entries(properties).map(([name, s]) => ({ name, in: where, required: where === 'path' || required.has(name), schema: stripIds(s) }));
}

export function openapiDocument(routes: CollectedRoute[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const { method, url, schema } of [...routes].sort((a, b) => a.url.localeCompare(b.url) || a.method.localeCompare(b.method))) {
    const path = url.replace(/:(\w+)/g, '{$1}');
    const responses: Record<string, unknown> = {};
    for (const [status, body] of Object.entries((schema.response ?? {}) as Record<string, unknown>)) {
      const code = status.replace('xx', 'XX');
      responses[code] = (body as { type?: string }).type === 'null'
        ? { description: 'No content' }
        : { description: code.startsWith('2') ? 'Success' : 'Error', content: { 'application/json': { schema: stripIds(body) } } };
    }
    for (const produced of schema.produces ?? []) {
      responses['200'] ??= { description: 'Success', content: { [produced]: {} } };
    }
    if (Object.keys(responses).length === 0) responses['200'] = { description: 'Success' };
    const operation: Record<string, unknown> = {
      ...(schema.summary ? { summary: schema.summary } : {}),
      ...(schema.description ? { description: schema.description } : {}),
      parameters: [...parameters(schema.params, 'path'), ...parameters(schema.querystring, 'query')],
      responses,
    };
    if (schema.consumes) {
      operation['requestBody'] = { required: true, content: Object.fromEntries(schema.consumes.map((c) => [c, { schema: { type: 'object' } }])) };
    }
    paths[path] = { ...(paths[path] ?? {}), [method]: operation };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'saliency-server',
      version,
      description: 'Saliency maps for any ONNX image classifier: gradients compiled from the model itself.',
    },
    components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
