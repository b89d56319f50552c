// Errors raised before any route runs — by Fastify's router and by Node's HTTP parser — come in
// the documented shape {"error":{code,message,requestId}}, over raw sockets so that nothing
// between the test and the server rewrites the request.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ERRORS } from '../../src/gateway/errors.js';
import { json } from '../helpers/http.js';
import { type TestService, startService } from '../helpers/service.js';

interface RawResponse {
  status: number;
  headers: string;
  body: unknown;
}

/** Writes `chunks` to a fresh connection (pausing `pauseMs` after each), reads until the server closes or answers. */
function raw(url: string, chunks: (string | Buffer)[], pauseMs = 0): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => undefined); // the server may close first; what it sent counts
    socket.on('close', () => {
      const match = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(text);
      if (!match) return reject(new Error(`no HTTP response: ${JSON.stringify(text.slice(0, 200))}`));
      let body: unknown;
      try {
        body = JSON.parse(match[3] ?? '');
      } catch {
        body = match[3];
      }
      resolve({ status: Number(match[1]), headers: match[2] ?? '', body });
    });
    void (async () => {
      for (const chunk of chunks) {
        if (socket.destroyed) return;
        socket.write(chunk);
        if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
      }
    })();
  });
}

function assertShape(body: unknown, code: string): void {
  const error = (body as { error?: { code?: unknown; message?: unknown; requestId?: unknown } }).error;
  assert.ok(error, `not the documented shape: ${JSON.stringify(body)}`);
  assert.equal(error.code, code, JSON.stringify(body));
  assert.equal(typeof error.message, 'string');
  assert.ok(String(error.message).length > 10);
  assert.equal(typeof error.requestId, 'string');
  assert.deepEqual(Object.keys(body as object), ['error']);
}

describe("Fastify's and Node's own errors in the documented shape", () => {
  let service: TestService;
  before(async () => {
    service = await startService('embedded', { REQUEST_TIMEOUT_MS: '1500' });
  });
  after(async () => service.close());

  for (const path of ['/v1/%ZZ', '/v1/explanations/%ZZ', '/%ZZ', '/v1/explanations/%E0%A4%A/heatmap.png']) {
    test(`bad percent-encoding in the path (${path}) → 400 SALIENCY_BAD_REQUEST`, async () => {
      const r = await raw(service.url, [`GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`]);
      assert.equal(r.status, 400);
      assertShape(r.body, 'SALIENCY_BAD_REQUEST');
    });
  }

  test('a request that is not HTTP → 400 SALIENCY_BAD_REQUEST', async () => {
    const r = await raw(service.url, ['HELLO THERE\r\n\r\n']);
    assert.equal(r.status, 400);
    assertShape(r.body, 'SALIENCY_BAD_REQUEST');
  });

  test('headers beyond the limit → 431 SALIENCY_HEADERS_TOO_LARGE', async () => {
    const r = await raw(service.url, [`GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(40_000)}\r\n\r\n`]);
    assert.equal(r.status, 431);
    assertShape(r.body, 'SALIENCY_HEADERS_TOO_LARGE');
  });

  test('a body that does not arrive within REQUEST_TIMEOUT_MS → 408 SALIENCY_REQUEST_TIMEOUT', { timeout: 30_000 }, async () => {
    const boundary = 'xyz';
    const head = `POST /v1/explanations HTTP/1.1\r\nhost: x\r\ncontent-type: multipart/form-data; boundary=${boundary}\r\ncontent-length: 100000\r\n\r\n`;
    const part = `--${boundary}\r\ncontent-disposition: form-data; name="image"; filename="a.png"\r\ncontent-type: image/png\r\n\r\n`;
    // A trickle: a few bytes every 200 ms, far from the 100000 announced.
    const r = await raw(service.url, [head, part, ...Array.from({ length: 40 }, () => Buffer.alloc(16, 7))], 200);
    assert.equal(r.status, 408);
    assertShape(r.body, 'SALIENCY_REQUEST_TIMEOUT');
    // The gateway is fine afterwards.
    assert.equal((await fetch(`${service.url}/healthz`)).status, 200);
  });

  test('the same for a JSON body', { timeout: 30_000 }, async () => {
    const head = `POST /v1/explanations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n{"method":"gradient","image":"`;
    const r = await raw(service.url, [head, ...Array.from({ length: 40 }, () => 'AAAA')], 200);
    assert.equal(r.status, 408);
    assertShape(r.body, 'SALIENCY_REQUEST_TIMEOUT');
  });

  test('an unknown route → 404 SALIENCY_NO_ROUTE, a code of the catalogue', async () => {
    const r = await json(await fetch(`${service.url}/v2/nothing`));
    assert.equal(r.status, 404);
    assertShape(r.body, 'SALIENCY_NO_ROUTE');
    assert.equal(ERRORS.SALIENCY_NO_ROUTE.status, 404);
  });
});
