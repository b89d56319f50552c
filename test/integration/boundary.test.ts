// The HTTP boundary, black-box over real HTTP: every spelling of a path reaches a /v1 route only
// through authentication; rate limits by verified key or address (shared through Redis across
// gateway replicas); job cost limits and the job timeout; one upload limit for every encoding;
// malformed bodies, duplicate, unknown and inapplicable parameters answered 400 naming them;
// renderings bounded in size and off the event loop.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { buildApp } from '../../src/gateway/app.js';
import { ModelRegistry } from '../../src/models/registry.js';
import { type Json, json, submit, testImage, waitFor } from '../helpers/http.js';
import { rawRequest, socketRequest } from '../helpers/raw-http.js';
import { type TestService, startService } from '../helpers/service.js';

type Explanation = { id: string; status: string; links: Record<string, string>; error?: { code: string; message: string } };
const first = (r: Json) => (r.body['explanations'] as Explanation[])[0] as Explanation;
const code = (r: Json) => (r.body['error'] as { code: string } | undefined)?.code;
const message = (r: Json) => (r.body['error'] as { message: string } | undefined)?.message ?? '';

/** Settings every service here states, so none inherits another's from the environment. */
const BASE = { JOB_TIMEOUT_SECONDS: '900', MAX_UPLOAD_BYTES: String(20 * 1024 * 1024), API_KEYS: '', RATE_LIMIT_PER_MINUTE: '0' };

/** Every status any request of this file got: nothing may be a 5xx except the documented 503s. */
const seen: { status: number; what: string; code?: string }[] = [];
const note = (status: number, what: string, errorCode?: string) => seen.push({ status, what, ...(errorCode ? { code: errorCode } : {}) });

async function post(
  url: string,
  fields: Record<string, string>,
  files: Parameters<typeof submit>[2],
  query = '',
  headers: Record<string, string> = {},
): Promise<Json> {
  const r = await submit(url, fields, files, query, headers);
  note(r.status, `POST ${JSON.stringify(fields)}${query}`, code(r));
  return r;
}

async function get(url: string, headers: Record<string, string> = {}): Promise<Json> {
  const r = await json(await fetch(url, { headers }));
  note(r.status, `GET ${url}`, code(r));
  return r;
}

describe('authentication is a hook of the /v1 scope: no spelling of a path gets past it', () => {
  let service: TestService;
  let image: Buffer;
  before(async () => {
    service = await startService('embedded', { ...BASE, API_KEYS: 'key-a,key-b', RATE_LIMIT_PER_MINUTE: '100000' });
    image = await testImage();
  });
  after(async () => service.close());

  const multipart = (img: Buffer) => {
    const boundary = 'XBOUNDARYX';
    const body = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="method"\r\n\r\ngradient\r\n--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`,
      ),
      img,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    return { body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
  };

  // What the router may decode, fold or ignore; none may reach a route without a key.
  const SPELLINGS = [
    '/v1/explanations',
    '/%761/explanations',
    '/%76%31/explanations',
    '/v%31/explanations',
    '/v1/%65xplanations',
    '/v1/explanations%2F',
    '//v1/explanations',
    '/v1//explanations',
    '/v1/./explanations',
    '/./v1/explanations',
    '/x/../v1/explanations',
    '/V1/explanations',
    '/v1/Explanations',
    '/v1/explanations/',
    '/v1/explanations//',
    '/v1/explanations?',
    '/v1/explanations#x',
    '/v1/explanations;x',
    '/v1/explanations/..%2f',
    '/v1/explanations/.%2e/explanations',
    '/v1%2Fexplanations',
    '/%2Fv1/explanations',
    '/v1/explanations%00',
    '/v1/explanations%20',
  ];

  test('POST of a real job under every spelling, without a key or with a wrong one: never accepted', async () => {
    const { body, headers } = multipart(image);
    for (const path of SPELLINGS) {
      const attempts: Record<string, string>[] = [
        {},
        { authorization: 'Bearer wrong' },
        { 'x-api-key': 'KEY-A' },
        { 'x-api-key': 'key-' },
        { authorization: 'Basic a2V5LWE6' },
        { authorization: 'Bearer' },
        { authorization: 'key-a' },
      ];
      for (const auth of attempts) {
        const r = await rawRequest(service.url, 'POST', path, { ...headers, ...auth }, body);
        note(r.status, `POST ${path}`, r.json?.error?.code);
        assert.ok(r.status === 401 || r.status === 404 || r.status === 400, `${path} ${JSON.stringify(auth)} → ${r.status} ${r.body.slice(0, 200)}`);
        if (r.status === 401) assert.equal(r.json?.error?.code, 'SALIENCY_UNAUTHORIZED');
      }
    }
  });

  test('the spellings the router does decode to the route work with a key, so the 401s above were the hook', async () => {
    const { body, headers } = multipart(image);
    for (const path of ['/%761/explanations', '/%76%31/explanations', '/v1/%65xplanations']) {
      const r = await rawRequest(service.url, 'POST', path, { ...headers, authorization: 'Bearer key-b' }, body);
      note(r.status, `POST ${path} with key`, r.json?.error?.code);
      assert.equal(r.status, 202, `${path}: ${r.body.slice(0, 200)}`);
      const denied = await rawRequest(service.url, 'POST', path, headers, body);
      assert.equal(denied.status, 401, path);
    }
  });

  test('every /v1 operation of the OpenAPI document (and HEAD of every GET) answers 401 without a key', async () => {
    const doc = (await (await fetch(`${service.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => [m.toUpperCase(), path.replace(/\{[^}]+\}/g, randomUUID())] as const),
    );
    const v1 = operations.filter(([, path]) => path.startsWith('/v1/'));
    assert.ok(v1.length >= 9, `only ${v1.length} /v1 operations documented`);
    for (const [method, path] of [...v1, ...v1.filter(([m]) => m === 'GET').map(([, p]) => ['HEAD', p] as const)]) {
      for (const spelled of [path, path.replace('/v1/', '/%761/'), `${path}?colormap=jet`]) {
        const r = await rawRequest(service.url, method, spelled);
        note(r.status, `${method} ${spelled}`, r.json?.error?.code);
        assert.equal(r.status, 401, `${method} ${spelled} → ${r.status}`);
        assert.match(String(r.headers['www-authenticate']), /^Bearer/);
      }
    }
  });

  test('an unknown path under /v1 is authenticated first, then 404 in the error shape; no spelling tells a caller without a key what exists', async () => {
    for (const prefix of ['/v1', '/%76%31', '/%761', '//v1', '/V1', '/v1/.']) {
      const answers: Record<string, number> = {};
      for (const method of ['GET', 'POST', 'DELETE', 'HEAD']) {
        for (const rest of ['/nope', '/models', '/explanations/nope/deeper', '']) {
          const r = await rawRequest(service.url, method, `${prefix}${rest}`);
          note(r.status, `${method} ${prefix}${rest}`, r.json?.error?.code);
          answers[`${method} ${prefix}${rest}`] = r.status;
          if (r.status === 401) assert.match(String(r.headers['www-authenticate']), /^Bearer/);
          else if (method !== 'HEAD') assert.equal(r.json?.error?.code, 'SALIENCY_NO_ROUTE', `${method} ${prefix}${rest}`);
        }
      }
      // Known and unknown paths under one spelling get the same answer without a key.
      assert.equal(new Set(Object.values(answers)).size, 1, `${prefix}: ${JSON.stringify(answers)}`);
    }
    for (const path of ['/v1/nope', '/%76%31/nope', '/v1', '/v1/models/x/y']) {
      const denied = await rawRequest(service.url, 'GET', path);
      assert.equal(denied.status, 401, path);
      const r = await rawRequest(service.url, 'GET', path, { authorization: 'Bearer key-a' });
      note(r.status, `GET ${path} with key`, r.json?.error?.code);
      assert.equal(r.status, 404, path);
      assert.equal(r.json?.error?.code, 'SALIENCY_NO_ROUTE');
      assert.match(r.body, /"requestId":"[0-9a-f-]{36}"/);
    }
  });

  test('keys: Bearer scheme case-insensitive, X-API-Key, and jobs stay the key’s own', async () => {
    const a = await post(service.url, { method: 'gradient' }, [{ field: 'image', bytes: image, name: 'a.png' }], '?wait=30', { authorization: 'bearer key-a' });
    assert.equal(a.status, 200, JSON.stringify(a.body));
    const id = first(a).id;
    assert.equal((await get(`${service.url}/v1/explanations/${id}`, { 'x-api-key': 'key-a' })).status, 200);
    assert.equal((await get(`${service.url}/v1/explanations/${id}`, { 'x-api-key': 'key-b' })).status, 404);
    const heat = await fetch(`${service.url}/v1/explanations/${id}/heatmap.png`, { headers: { authorization: 'Bearer key-a' } });
    assert.equal(heat.status, 200);
    assert.equal((await fetch(`${service.url}/v1/explanations/${id}/heatmap.png`)).status, 401);
  });

  test('the public routes stay public and expose no job data: /, /docs, /openapi.json, /healthz', async () => {
    for (const path of ['/', '/docs', '/openapi.json', '/healthz', '/web/api.js']) {
      const r = await fetch(`${service.url}${path}`);
      note(r.status, `GET ${path}`);
      assert.equal(r.status, 200, path);
    }
  });

  test('a /v1 route registered outside the scope stops the gateway from starting', async () => {
    const app = await buildApp({
      config: service.config,
      registry: ModelRegistry.load(service.config.MODELS_DIR),
      queue: service.backend.queue,
      store: service.backend.store,
      mode: 'embedded',
    });
    app.get('/v1/leak', async () => ({ secret: true }));
    await assert.rejects(async () => app.ready(), /outside the authenticated \/v1 scope: GET \/v1\/leak/);
    await app.close().catch(() => undefined);
  });
});

describe('rate limits count verified keys, else addresses, failed authentications included', () => {
  test('no API_KEYS, 10/min, a fresh random X-API-Key on every request: 429 after 10', async () => {
    const service = await startService('embedded', { ...BASE, RATE_LIMIT_PER_MINUTE: '10' });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 15; i++) {
        const r = await get(`${service.url}/v1/models`, { 'x-api-key': randomBytes(8).toString('hex'), 'x-forwarded-for': `10.0.0.${i}` });
        statuses.push(r.status);
      }
      assert.deepEqual(statuses, [...Array(10).fill(200), ...Array(5).fill(429)]);
    } finally {
      await service.close();
    }
  });

  test('30 wrong keys at 10/min: 10 × 401, then 429 in the documented shape with Retry-After; a valid key is still served', async () => {
    const service = await startService('embedded', { ...BASE, API_KEYS: 'right-key', RATE_LIMIT_PER_MINUTE: '10' });
    try {
      const answers: Json[] = [];
      for (let i = 0; i < 30; i++) answers.push(await get(`${service.url}/v1/models`, { authorization: `Bearer guess-${i}` }));
      assert.deepEqual(
        answers.map((r) => r.status),
        [...Array(10).fill(401), ...Array(20).fill(429)],
      );
      const limited = answers[29] as Json;
      assert.equal(code(limited), 'SALIENCY_RATE_LIMITED');
      assert.equal(typeof (limited.body['error'] as { requestId?: string }).requestId, 'string');
      const retry = Number(limited.headers.get('retry-after'));
      assert.ok(retry >= 1 && retry <= 60, `retry-after ${retry}`);
      assert.equal(limited.headers.get('x-ratelimit-remaining'), '0');
      // The guesser's address is blocked; the key holder's own budget is separate.
      const ok = await get(`${service.url}/v1/models`, { authorization: 'Bearer right-key' });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('x-ratelimit-limit'), '10');
      assert.equal(ok.headers.get('x-ratelimit-remaining'), '9');
    } finally {
      await service.close();
    }
  });

  test('distributed: two gateway replicas on one Redis share each client’s budget', async () => {
    const service = await startService('redis', { ...BASE, API_KEYS: 'k1', RATE_LIMIT_PER_MINUTE: '10' });
    const replica = await buildApp({
      config: service.config,
      registry: ModelRegistry.load(service.config.MODELS_DIR),
      queue: service.backend.queue,
      store: service.backend.store,
      mode: 'redis',
    });
    const replicaUrl = await replica.listen({ host: '127.0.0.1', port: 0 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 14; i++) statuses.push((await get(`${i % 2 ? replicaUrl : service.url}/v1/methods`, { authorization: 'Bearer k1' })).status);
      assert.deepEqual(statuses, [...Array(10).fill(200), ...Array(4).fill(429)]);
      // Wrong keys are counted per address across replicas too.
      const guesses: number[] = [];
      for (let i = 0; i < 12; i++) guesses.push((await get(`${i % 2 ? replicaUrl : service.url}/v1/methods`, { authorization: `Bearer nope-${i}` })).status);
      assert.deepEqual(guesses, [...Array(10).fill(401), ...Array(2).fill(429)]);
    } finally {
      await replica.close();
      await service.close();
    }
  });
});

/** A Redis of this test's own, on a random high port, that the test can stop and start again. */
async function throwawayRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await waitFor(
    async () => {
      const probe = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG' ? true : undefined;
      } catch {
        return undefined;
      } finally {
        probe.disconnect();
      }
    },
    10_000,
    50,
  );
  return child;
}

describe('rate limits while the shared counters are unreachable', () => {
  test('Redis down: a verified key is served, unverified callers get 503 (never an uncounted 401); back up: counting resumes', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    let redis = await throwawayRedis(port);
    const service = await startService('redis', { ...BASE, REDIS_URL: `redis://127.0.0.1:${port}`, API_KEYS: 'k', RATE_LIMIT_PER_MINUTE: '5' });
    try {
      assert.equal((await get(`${service.url}/v1/methods`, { authorization: 'Bearer k' })).status, 200);
      redis.kill('SIGKILL');
      await new Promise((resolve) => redis.once('exit', resolve));
      const known = await get(`${service.url}/v1/methods`, { authorization: 'Bearer k' });
      assert.equal(known.status, 200, JSON.stringify(known.body));
      for (let i = 0; i < 3; i++) {
        const guess = await get(`${service.url}/v1/methods`, { authorization: `Bearer guess-${i}` });
        assert.equal(guess.status, 503, JSON.stringify(guess.body));
        assert.equal(code(guess), 'SALIENCY_UNAVAILABLE');
        assert.ok(Number(guess.headers.get('retry-after')) > 0);
      }
      redis = await throwawayRedis(port);
      const statuses = await waitFor(
        async () => {
          const r = await get(`${service.url}/v1/methods`, { authorization: 'Bearer nope' });
          return r.status === 401 ? r.status : undefined;
        },
        15_000,
        200,
      );
      assert.equal(statuses, 401);
      const more: number[] = [];
      for (let i = 0; i < 6; i++) more.push((await get(`${service.url}/v1/methods`, { authorization: 'Bearer nope' })).status);
      assert.ok(more.includes(429), more.join(','));
    } finally {
      await service.close().catch(() => undefined);
      redis.kill('SIGKILL');
    }
  });
});

for (const mode of ['embedded', 'redis'] as const) {
  describe(`bounded jobs and strict submissions (${mode})`, () => {
    let service: TestService;
    let url: string;
    let image: Buffer;
    before(async () => {
      service = await startService(mode, { ...BASE, MAX_UPLOAD_BYTES: String(1024 * 1024) });
      url = service.url;
      image = await testImage();
    });
    after(async () => service.close());
    const png = () => [{ field: 'image', bytes: image, name: 'a.png', type: 'image/png' }];

    test('smoothgrad over IG with 1000 samples × 1000 steps is refused, naming the limit and the cost', async () => {
      const r = await post(url, { method: 'smoothgrad', base: 'integrated-gradients', samples: '1000', steps: '1000' }, png());
      assert.equal(r.status, 400);
      assert.equal(code(r), 'SALIENCY_LIMIT_EXCEEDED');
      assert.match(message(r), /1000000 graph points/);
      assert.match(message(r), /1000 samples × 1000 steps/);
      assert.match(message(r), /MAX_JOB_POINTS is 20000/);
    });

    test('normal use passes the cost limit: defaults of every method, IG with 1000 steps, SmoothGrad with 1000 samples', async () => {
      // target 99 is out of range for the test model, and is checked after the cost: a
      // SALIENCY_BAD_TARGET answer shows the cost passed, without running a 20 000-point job.
      const normal: Record<string, string>[] = [
        { method: 'smoothgrad', base: 'integrated-gradients' },
        { method: 'integrated-gradients', steps: '1000' },
        { method: 'smoothgrad', samples: '1000' },
        { method: 'smoothdiff', samples: '1000' },
        { method: 'vargrad', samples: '200', base: 'integrated-gradients', steps: '100' },
        { method: 'guided-grad-cam' },
      ];
      for (const fields of normal) {
        const r = await post(url, { ...fields, target: '99' }, png());
        assert.equal(code(r), 'SALIENCY_BAD_TARGET', `${JSON.stringify(fields)}: ${JSON.stringify(r.body)}`);
      }
      const over = await post(url, { method: 'vargrad', samples: '201', base: 'integrated-gradients', steps: '100', target: '99' }, png());
      assert.equal(code(over), 'SALIENCY_LIMIT_EXCEEDED', 'one point over the limit');
      const accepted = await post(url, { method: 'smoothgrad', samples: '4' }, png());
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    });

    test('JSON with base64 over MAX_UPLOAD_BYTES (decoded) is 413 before decoding, like multipart', async () => {
      const big = randomBytes(1024 * 1024 + 10 * 1024).toString('base64');
      const r = await json(
        await fetch(`${url}/v1/explanations`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ method: 'gradient', image: big }),
        }),
      );
      note(r.status, 'POST json big', code(r));
      assert.equal(r.status, 413);
      assert.equal(code(r), 'SALIENCY_PAYLOAD_TOO_LARGE');
      // Two files each under the limit, over it together.
      const half = Buffer.concat([image, randomBytes(600 * 1024)]);
      const m = await post(url, { method: 'gradient' }, [
        { field: 'image', bytes: half, name: 'a.png' },
        { field: 'image', bytes: half, name: 'b.png' },
      ]);
      assert.equal(m.status, 413);
      assert.equal(code(m), 'SALIENCY_PAYLOAD_TOO_LARGE');
      const j2 = await json(
        await fetch(`${url}/v1/explanations`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ method: 'gradient', images: [half.toString('base64'), half.toString('base64')] }),
        }),
      );
      assert.equal(j2.status, 413);
      // A small JSON upload still works.
      const ok = await json(
        await fetch(`${url}/v1/explanations`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ method: 'gradient', image: image.toString('base64') }),
        }),
      );
      assert.equal(ok.status, 202, JSON.stringify(ok.body));
    });

    test('multipart without a boundary, or cut in the middle of a part: 400, not 500', async () => {
      const host = new URL(url).host;
      const noBoundary = await socketRequest(
        url,
        `POST /v1/explanations HTTP/1.1\r\nHost: ${host}\r\nContent-Type: multipart/form-data\r\nContent-Length: 5\r\nConnection: close`,
        'hello',
      );
      note(noBoundary.status, 'multipart no boundary');
      assert.equal(noBoundary.status, 400, noBoundary.body);
      const cut = `--XX\r\nContent-Disposition: form-data; name="method"\r\n\r\ngradient\r\n--XX\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n${image.subarray(0, 40).toString('latin1')}`;
      const r = await socketRequest(
        url,
        `POST /v1/explanations HTTP/1.1\r\nHost: ${host}\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: ${Buffer.byteLength(cut, 'latin1')}\r\nConnection: close`,
        cut,
      );
      note(r.status, 'multipart cut');
      assert.equal(r.status, 400, r.body);
      assert.match(r.body, /SALIENCY_BAD_REQUEST/);
      const garbage = await rawRequest(url, 'POST', '/v1/explanations', { 'content-type': 'multipart/form-data; boundary=XX' }, 'not multipart at all');
      note(garbage.status, 'multipart garbage');
      assert.ok(garbage.status >= 400 && garbage.status < 500, String(garbage.status));
    });

    test('duplicate, unknown and inapplicable parameters: 400 naming the field', async () => {
      const cases: [string, () => Promise<Json>, RegExp][] = [
        [
          'a field sent twice',
          async () => {
            const body = new FormData();
            body.append('method', 'gradient');
            body.append('method', 'smoothgrad');
            body.append('image', new Blob([image]), 'a.png');
            return json(await fetch(`${url}/v1/explanations`, { method: 'POST', body }));
          },
          /field 'method' is sent more than once/,
        ],
        [
          'a tensor file sent twice',
          async () => {
            const body = new FormData();
            body.append('tensor', new Blob([new Uint8Array(8)]), 'a.npy');
            body.append('tensor', new Blob([new Uint8Array(8)]), 'b.npy');
            return json(await fetch(`${url}/v1/explanations`, { method: 'POST', body }));
          },
          /file 'tensor' is sent more than once/,
        ],
        ['samples with gradient', () => post(url, { method: 'gradient', samples: '5' }, png()), /'samples' does not apply to method 'gradient'/],
        ['steps with smoothgrad over gradient', () => post(url, { method: 'smoothgrad', steps: '5' }, png()), /'steps' does not apply to method 'smoothgrad'/],
        ['base with smoothdiff', () => post(url, { method: 'smoothdiff', base: 'gradient' }, png()), /'base' does not apply to method 'smoothdiff'/],
        ['layer with integrated-gradients', () => post(url, { method: 'integrated-gradients', layer: 'x' }, png()), /'layer' does not apply/],
        ['an unknown field', () => post(url, { method: 'gradient', colour: 'red' }, png()), /unknown field\(s\) colour/],
        [
          'a baseline file without baseline=uploaded',
          () => post(url, { method: 'integrated-gradients' }, [...png(), { field: 'baseline', bytes: new Uint8Array(16), name: 'b.npy' }]),
          /'baseline' file was sent but baseline is not 'uploaded'/,
        ],
        ['?wait=61', () => post(url, { method: 'gradient' }, png(), '?wait=61'), /wait must be <= 60/],
        ['?wait twice', () => post(url, { method: 'gradient' }, png(), '?wait=1&wait=2'), /wait must be number/],
        ['an unknown query parameter', () => post(url, { method: 'gradient' }, png(), '?sampels=3'), /unknown querystring parameter 'sampels'/],
        [
          'image and images in JSON',
          async () =>
            json(
              await fetch(`${url}/v1/explanations`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ image: image.toString('base64'), images: [image.toString('base64')] }),
              }),
            ),
          /either 'image' or 'images'/,
        ],
        ['a text field named image', () => post(url, { method: 'gradient', image: 'x' }, []), /'image' must be a file part/],
        [
          'a JSON member sent twice (one of them escaped)',
          async () =>
            json(
              await fetch(`${url}/v1/explanations`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: `{"method":"gradient","image":"${image.toString('base64')}","nested":{"method":1},"\\u006dethod":"smoothgrad"}`,
              }),
            ),
          /member 'method' is sent more than once/,
        ],
      ];
      for (const [what, send, expected] of cases) {
        const r = await send();
        note(r.status, what, code(r));
        assert.equal(r.status, 400, `${what}: ${r.status} ${JSON.stringify(r.body)}`);
        assert.match(message(r), expected, what);
      }
    });

    test('an unknown rendering parameter is named', async () => {
      const done = await post(url, { method: 'gradient' }, png(), '?wait=30');
      assert.equal(done.status, 200);
      const r = await get(`${url}${first(done).links['heatmap']}?colour=jet`);
      assert.equal(r.status, 400);
      assert.match(message(r), /colour/);
    });
  });
}

for (const mode of ['embedded', 'redis'] as const) {
  describe(`JOB_TIMEOUT_SECONDS fails a long job with a code (${mode})`, () => {
    let service: TestService;
    before(async () => {
      service = await startService(mode, { ...BASE, JOB_TIMEOUT_SECONDS: '1', MEMORY_BUDGET_MB: '16' });
    });
    after(async () => service.close());

    test('a job over its time stops at its next graph run with SALIENCY_JOB_TIMEOUT, not retried', async () => {
      const image = await testImage();
      const r = await post(service.url, { method: 'smoothgrad', base: 'integrated-gradients', samples: '200', steps: '100' }, [
        { field: 'image', bytes: image, name: 'a.png' },
      ]);
      assert.equal(r.status, 202, JSON.stringify(r.body));
      const final = await waitFor(async () => {
        const s = await get(`${service.url}/v1/explanations/${first(r).id}`);
        return ['completed', 'failed', 'cancelled'].includes(String(s.body['status'])) ? s : undefined;
      }, 60_000);
      assert.equal(final.body['status'], 'failed', JSON.stringify(final.body));
      assert.equal((final.body['error'] as { code: string }).code, 'SALIENCY_JOB_TIMEOUT');
      assert.equal(final.body['attempts'], 1);
    });
  });
}

describe('renderings are bounded and run off the event loop', () => {
  let service: TestService;
  before(async () => {
    service = await startService('embedded', { ...BASE, MAX_UPLOAD_BYTES: String(20 * 1024 * 1024), MAX_RENDER_PIXELS: '8000000' });
  });
  after(async () => service.close());

  test('4 original-size overlays of a 40 Mpx upload: each capped at MAX_RENDER_PIXELS, aspect kept; /healthz answers within 100 ms throughout', async (t) => {
    // A few hundred KB that decode to 8000 × 5000 (the default MAX_IMAGE_PIXELS).
    const big = await sharp({ create: { width: 8000, height: 5000, channels: 3, background: { r: 90, g: 140, b: 200 } } })
      .png({ compressionLevel: 9 })
      .toBuffer();
    assert.ok(big.byteLength < 1_000_000, `${big.byteLength} bytes`);
    const done = await post(service.url, { method: 'gradient' }, [{ field: 'image', bytes: big, name: 'big.png', type: 'image/png' }], '?wait=60');
    assert.equal(done.status, 200, JSON.stringify(done.body));
    const e = first(done);

    const latencies: number[] = [];
    const busy = performance.eventLoopUtilization();
    let rendering = true;
    const probe = (async () => {
      while (rendering) {
        const t0 = performance.now();
        const r = await fetch(`${service.url}/healthz`);
        await r.arrayBuffer();
        latencies.push(performance.now() - t0);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const overlays = await Promise.all(
      ['viridis', 'inferno', 'magma', 'jet'].map(async (colormap) => {
        const r = await fetch(`${service.url}${e.links['overlay']}?size=original&colormap=${colormap}`);
        note(r.status, `overlay ${colormap}`);
        assert.equal(r.status, 200, await r.clone().text());
        return sharp(Buffer.from(await r.arrayBuffer())).metadata();
      }),
    );
    const utilisation = performance.eventLoopUtilization(busy).utilization;
    rendering = false;
    await probe;
    for (const meta of overlays) {
      const { width = 0, height = 0 } = meta;
      assert.ok(width * height <= 8_000_000 && width * height > 7_900_000, `${width}×${height}`);
      assert.ok(Math.abs(width / height - 8000 / 5000) < 0.01, `${width}×${height}`);
    }
    assert.ok(latencies.length >= 3, `${latencies.length} health probes`);
    // The loop was mostly idle while the renderings ran: they are on other threads. (Colouring
    // 4 × 8 Mpx on it kept it busy throughout, and /healthz waited seconds.)
    assert.ok(utilisation < 0.5, `the event loop was busy ${(utilisation * 100).toFixed(0)}% of the time`);
    const sorted = [...latencies].sort((a, b) => a - b);
    const worst = sorted[sorted.length - 1] as number;
    const p95 = sorted[Math.floor(sorted.length * 0.95)] as number;
    const report = `/healthz: ${latencies.length} probes, p95 ${p95.toFixed(1)} ms, max ${worst.toFixed(1)} ms; event loop busy ${(utilisation * 100).toFixed(0)}%`;
    t.diagnostic(report);
    assert.ok(p95 < 100, report);
    // On a host with several runnable threads per core the OS scheduler alone delays a thread by
    // 100 ms now and then (an idle gateway shows the same), so the worst case is only held to
    // the bound where the cores are not oversubscribed.
    const overloaded = (loadavg()[0] as number) > 1.5 * availableParallelism();
    if (!overloaded) assert.ok(worst < 100, report);
  });
});

test('nothing in this file was answered with a 5xx other than a documented 503', () => {
  const bad = seen.filter((s) => s.status >= 500 && !(s.status === 503 && s.code));
  assert.deepEqual(bad, []);
  assert.ok(seen.length > 100, `${seen.length} responses seen`);
});
