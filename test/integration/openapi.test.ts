// openapi/openapi.json is generated from the routes and committed: it must be current, valid
// OpenAPI 3.1 (a validator of the specification's schema, and Redocly's recommended lint rules),
// and describe what clients need. The /docs page renders it from assets this package serves.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { validate } from '@readme/openapi-parser';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import { generateOpenapi } from '../../src/gateway/openapi-document.js';
import { COLORMAPS, REDUCTIONS, SIGNS } from '../../src/imaging/index.js';
import { METHOD_NAMES } from '../../src/jobs/contract.js';
import { ROOT } from '../helpers/paths.js';
import { type TestService, startService } from '../helpers/service.js';

const DOCUMENT = join(ROOT, 'openapi', 'openapi.json');

type Schema = {
  type?: string;
  enum?: unknown[];
  properties?: Record<string, Schema>;
  $ref?: string;
  contentMediaType?: string;
  contentEncoding?: string;
  items?: Schema;
  anyOf?: Schema[];
};
interface Operation {
  operationId: string;
  parameters?: { name: string; in: string; schema: Schema }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }>; headers?: Record<string, unknown> }>;
  security?: Record<string, string[]>[];
}
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema>; securitySchemes: Record<string, { type: string; scheme?: string; in?: string; name?: string }> };
}
const document = (): Document => JSON.parse(readFileSync(DOCUMENT, 'utf8')) as Document;
const param = (op: Operation | undefined, name: string) => op?.parameters?.find((p) => p.name === name);

test('openapi/openapi.json matches the routes (regenerate with `npm run openapi`)', async () => {
  const committed = readFileSync(DOCUMENT, 'utf8');
  const generated = await generateOpenapi();
  assert.equal(committed, generated, 'openapi/openapi.json is stale: run `npm run openapi` and commit it');
  const doc = JSON.parse(generated) as Document;
  for (const path of [
    '/v1/explanations',
    '/v1/explanations/{id}',
    '/v1/explanations/{id}/events',
    '/v1/explanations/{id}/heatmap.png',
    '/v1/models',
    '/v1/methods',
    '/healthz',
    '/readyz',
    '/metrics',
  ]) {
    assert.ok(doc.paths[path], `missing ${path}`);
  }
});

test('the document is valid OpenAPI 3.1 (specification schema) and passes Redocly’s recommended rules', async () => {
  const text = readFileSync(DOCUMENT, 'utf8');
  assert.equal(document().openapi, '3.1.0');
  const result = await validate(JSON.parse(text) as Parameters<typeof validate>[0]);
  assert.equal(result.valid, true, JSON.stringify(result));
  const config = await createConfig({ extends: ['recommended'] });
  const problems = await lintFromString({ source: text, absoluteRef: DOCUMENT, config });
  assert.deepEqual(
    problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer ?? ''}`),
    [],
  );
});

test('POST /v1/explanations: multipart and JSON bodies, ?wait, Prefer, security', () => {
  const doc = document();
  const post = doc.paths['/v1/explanations']?.['post'];
  const multipart = post?.requestBody?.content['multipart/form-data']?.schema.properties;
  const json = post?.requestBody?.content['application/json']?.schema.properties;
  assert.ok(multipart && json);
  assert.equal(multipart['image']?.items?.contentMediaType, 'application/octet-stream', 'image files are binary parts');
  assert.equal(multipart['tensor']?.contentMediaType, 'application/octet-stream');
  assert.equal(json['image']?.contentEncoding, undefined, 'base64 is said as format: byte by @fastify/swagger');
  assert.deepEqual(multipart['method']?.enum, [...METHOD_NAMES]);
  assert.deepEqual(json['method']?.enum, [...METHOD_NAMES]);
  assert.equal(param(post, 'wait')?.in, 'query');
  assert.equal(param(post, 'prefer')?.in, 'header');
  assert.ok(post?.responses['200'] && post.responses['202'] && post.responses['429'] && post.responses['503'] && post.responses['4XX']);
  assert.ok(post.responses['202']?.headers?.['location']);
  assert.deepEqual(post.security, [{ bearerAuth: [] }, { apiKeyHeader: [] }]);
  assert.deepEqual(doc.components.securitySchemes['bearerAuth'], { type: 'http', scheme: 'bearer', description: 'An API key as a bearer token' });
  assert.equal(doc.components.securitySchemes['apiKeyHeader']?.name, 'X-API-Key');
});

test('every /v1 operation has security, an operation id, and the Error schema for its errors', () => {
  const doc = document();
  const ids = new Set<string>();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      assert.ok(!ids.has(op.operationId), `duplicate operation id ${op.operationId}`);
      ids.add(op.operationId);
      if (!path.startsWith('/v1/')) continue;
      assert.ok(op.security && op.security.length === 2, `${method} ${path} has no security`);
      for (const status of ['401', '429', '4XX'])
        assert.equal(op.responses[status]?.content?.['application/json']?.schema.$ref, '#/components/schemas/Error', `${method} ${path} ${status}`);
    }
  }
});

test('binary responses, map.json’s schema and the rendering parameters’ enums', () => {
  const doc = document();
  const get = (path: string) => doc.paths[path]?.['get'];
  const heatmap = get('/v1/explanations/{id}/heatmap.png');
  assert.ok(heatmap?.responses['200']?.content?.['image/png']);
  assert.ok(heatmap.responses['200'].headers?.['x-saliency-scale']);
  assert.ok(get('/v1/explanations/{id}/overlay.png')?.responses['200']?.content?.['image/png']);
  assert.ok(get('/v1/explanations/{id}/attribution.npy')?.responses['200']?.content?.['application/x-npy']);
  assert.ok(get('/v1/explanations/{id}/events')?.responses['200']?.content?.['text/event-stream']);
  assert.equal(get('/v1/explanations/{id}/map.json')?.responses['200']?.content?.['application/json']?.schema.$ref, '#/components/schemas/Map');
  const map = doc.components.schemas['Map'];
  assert.deepEqual(Object.keys(map?.properties ?? {}).sort(), ['clipValue', 'height', 'metrics', 'scale', 'signed', 'values', 'width']);
  assert.deepEqual(param(heatmap, 'reduce')?.schema.enum, [...REDUCTIONS]);
  assert.deepEqual(param(heatmap, 'sign')?.schema.enum, [...SIGNS]);
  assert.deepEqual(param(heatmap, 'colormap')?.schema.enum, [...COLORMAPS]);
  assert.deepEqual(param(heatmap, 'size')?.schema.enum, ['input', 'original']);
  assert.equal(param(heatmap, 'clip')?.schema.type, 'number');
  assert.deepEqual(doc.components.schemas['Explanation']?.properties?.['status']?.enum, ['queued', 'running', 'completed', 'failed', 'cancelled']);
});

describe('the /docs page', () => {
  let service: TestService;
  before(async () => {
    service = await startService('embedded');
  });
  after(async () => service.close());

  test('renders the document with Swagger UI from assets served here (no outside origin)', async () => {
    const page = await fetch(`${service.url}/docs`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const html = await page.text();
    const scripts = [...html.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1] ?? '');
    assert.ok(
      scripts.some((s) => s.endsWith('swagger-ui-bundle.js')),
      html,
    );
    assert.ok(!/https?:\/\//.test(html), 'the page names no outside URL');
    for (const script of scripts) {
      const asset = await fetch(new URL(script, `${service.url}/docs`));
      assert.equal(asset.status, 200, script);
      assert.match(asset.headers.get('content-type') ?? '', /javascript/);
      assert.ok((await asset.arrayBuffer()).byteLength > 0);
    }
    const init = await (await fetch(`${service.url}/docs/static/swagger-initializer.js`)).text();
    assert.match(init, /validatorUrl/);
    const served = (await (await fetch(`${service.url}/docs/json`)).json()) as Document;
    assert.deepEqual(served, (await (await fetch(`${service.url}/openapi.json`)).json()) as Document);
    assert.equal(served.openapi, '3.1.0');
  });
});
