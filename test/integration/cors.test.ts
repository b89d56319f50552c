// CORS over real HTTP: off by default; with CORS_ORIGINS, preflights of the /v1 routes are answered
// before authentication, listed origins (only those) get Access-Control-Allow-Origin on answers and
// errors alike, and the headers a client needs are exposed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConfigError, corsOrigins, loadConfig } from '../../src/config/config.js';
import { type TestService, startService } from '../helpers/service.js';

const DASHBOARD = 'https://dash.example.test';

const preflight = (url: string, origin: string, method = 'POST', headers = 'authorization, content-type, prefer') =>
  fetch(url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers } });

describe('CORS with CORS_ORIGINS set', () => {
  let service: TestService;
  before(async () => {
    service = await startService('embedded', { CORS_ORIGINS: `${DASHBOARD}, http://localhost:5173`, API_KEYS: 'k1' });
  });
  after(async () => service.close());

  for (const [method, path] of [
    ['POST', '/v1/explanations'],
    ['GET', '/v1/explanations/abc'],
    ['DELETE', '/v1/explanations/abc'],
    ['GET', '/v1/explanations/abc/heatmap.png'],
    ['GET', '/v1/models'],
  ] as const) {
    test(`preflight of ${method} ${path} from a listed origin: 204 without a key`, async () => {
      const r = await preflight(`${service.url}${path}`, DASHBOARD, method);
      assert.equal(r.status, 204);
      assert.equal(r.headers.get('access-control-allow-origin'), DASHBOARD);
      assert.match(r.headers.get('access-control-allow-methods') ?? '', new RegExp(method));
      const allowed = (r.headers.get('access-control-allow-headers') ?? '').split(/,\s*/);
      for (const h of ['authorization', 'x-api-key', 'content-type', 'prefer', 'last-event-id', 'idempotency-key']) assert.ok(allowed.includes(h), h);
      assert.equal(r.headers.get('access-control-max-age'), '600');
      assert.equal(r.headers.get('access-control-allow-credentials'), null, 'keys travel in headers: no credentials mode');
      assert.match(r.headers.get('vary') ?? '', /origin/i);
    });
  }

  test('a second listed origin is allowed; an unlisted one gets no Allow-Origin', async () => {
    assert.equal(
      (await preflight(`${service.url}/v1/models`, 'http://localhost:5173', 'GET')).headers.get('access-control-allow-origin'),
      'http://localhost:5173',
    );
    for (const origin of ['https://evil.example.test', `${DASHBOARD}.evil.test`, 'null', DASHBOARD.replace('https', 'http')]) {
      const r = await preflight(`${service.url}/v1/models`, origin, 'GET');
      assert.equal(r.headers.get('access-control-allow-origin'), null, origin);
    }
  });

  test('actual requests: answers and errors carry Allow-Origin and expose the API’s headers', async () => {
    const ok = await fetch(`${service.url}/v1/models`, { headers: { origin: DASHBOARD, authorization: 'Bearer k1' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), DASHBOARD);
    const exposed = (ok.headers.get('access-control-expose-headers') ?? '').split(/,\s*/);
    for (const h of ['location', 'retry-after', 'x-saliency-scale', 'x-saliency-clip']) assert.ok(exposed.includes(h), h);
    await ok.arrayBuffer();
    // The browser must be able to read a 401 to tell its user to set a key.
    const denied = await fetch(`${service.url}/v1/models`, { headers: { origin: DASHBOARD } });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers.get('access-control-allow-origin'), DASHBOARD);
    assert.equal(((await denied.json()) as { error: { code: string } }).error.code, 'SALIENCY_UNAUTHORIZED');
  });

  test('OPTIONS without Origin is no preflight failure in another shape', async () => {
    const r = await fetch(`${service.url}/v1/models`, { method: 'OPTIONS' });
    assert.ok(r.status === 204 || r.status === 404, String(r.status));
  });
});

describe('CORS off (the default)', () => {
  let service: TestService;
  before(async () => {
    service = await startService('embedded');
  });
  after(async () => service.close());

  test('no CORS headers, and a preflight is not answered as one', async () => {
    const r = await preflight(`${service.url}/v1/explanations`, DASHBOARD);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    assert.equal(r.status, 404);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'SALIENCY_NO_ROUTE');
    const get = await fetch(`${service.url}/v1/models`, { headers: { origin: DASHBOARD } });
    assert.equal(get.headers.get('access-control-allow-origin'), null);
    await get.arrayBuffer();
  });
});

test('CORS_ORIGINS accepts origins and *, and refuses anything else at startup', () => {
  assert.deepEqual(corsOrigins(loadConfig({ CORS_ORIGINS: 'https://a.test, http://localhost:8080' })), ['https://a.test', 'http://localhost:8080']);
  assert.deepEqual(corsOrigins(loadConfig({ CORS_ORIGINS: '*' })), ['*']);
  assert.deepEqual(corsOrigins(loadConfig({})), []);
  for (const bad of ['https://a.test/', 'https://a.test/path', 'a.test', 'ftp://a.test', 'https://*.a.test']) {
    assert.throws(
      () => corsOrigins(loadConfig({ CORS_ORIGINS: bad })),
      (e: unknown) => e instanceof ConfigError && e.message.includes('CORS_ORIGINS'),
      bad,
    );
  }
});
