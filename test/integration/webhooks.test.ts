// Webhooks over real HTTP: a receiver on this machine's loopback fails the first delivery and
// accepts the retry; both carry the same webhook-id and a Standard Webhooks signature that the
// receiver verifies independently. Hosts off the allow-list are refused at submission.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../src/config/config.js';
import { retryDelayMs, signWebhook, webhookKey, Webhooks } from '../../src/gateway/webhooks.js';
import { submit, testImage, waitFor } from '../helpers/http.js';
import { type TestService, startService } from '../helpers/service.js';

test('signatures match the Standard Webhooks reference example', () => {
  // The example of the specification: secret, message id, timestamp and body → signature.
  const key = webhookKey('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
  assert.equal(signWebhook(key, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}'), 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
});

test('retry delays double from the base, with jitter in the upper half, and are capped', () => {
  assert.equal(
    retryDelayMs(1, 1000, () => 0),
    500,
  );
  assert.equal(
    retryDelayMs(1, 1000, () => 1),
    1000,
  );
  assert.equal(
    retryDelayMs(3, 1000, () => 0),
    2000,
  );
  assert.equal(
    retryDelayMs(3, 1000, () => 1),
    4000,
  );
  assert.equal(
    retryDelayMs(40, 1000, () => 1),
    600_000,
  );
});

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

describe('webhooks delivered to an allowed receiver', () => {
  let receiver: Server;
  let port: number;
  const received: Received[] = [];
  let service: TestService;
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  before(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        // The first delivery fails: the sender must retry.
        res.writeHead(received.length === 1 ? 503 : 204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    port = (receiver.address() as AddressInfo).port;
    service = await startService('embedded', { WEBHOOK_SECRET: secret, WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${port}`, WEBHOOK_RETRY_BASE_MS: '20' });
  });
  after(async () => {
    await service.close();
    await new Promise((resolve) => receiver.close(resolve));
  });

  test('one signed event per job, retried after a failure with the same id', async () => {
    const image = await testImage();
    const r = await submit(service.url, { method: 'gradient', webhook: `http://127.0.0.1:${port}/hooks/saliency` }, [
      { field: 'image', bytes: image, name: 'a.png' },
    ]);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const jobId = (r.body['explanations'] as { id: string }[])[0]?.id;
    await waitFor(async () => (received.length >= 2 ? true : undefined));
    const [failed, delivered] = received as [Received, Received];
    assert.equal(failed.headers['webhook-id'], `msg_${jobId}`);
    assert.equal(delivered.headers['webhook-id'], failed.headers['webhook-id']);
    for (const { headers, body } of received) {
      const id = String(headers['webhook-id']);
      const timestamp = String(headers['webhook-timestamp']);
      assert.ok(Math.abs(Number(timestamp) - Date.now() / 1000) < 600, 'a current timestamp');
      const expected = createHmac('sha256', Buffer.from(secret.slice(6), 'base64'))
        .update(`${id}.${timestamp}.${body}`)
        .digest('base64');
      assert.equal(headers['webhook-signature'], `v1,${expected}`);
      assert.equal(headers['content-type'], 'application/json');
      const event = JSON.parse(body) as { type: string; timestamp: string; data: { id: string; status: string } };
      assert.equal(event.type, 'explanation.completed');
      assert.equal(event.data.id, jobId);
      assert.equal(event.data.status, 'completed');
    }
    assert.equal(received.length, 2, 'no delivery after the accepted one');
  });

  test('hosts off the allow-list, other schemes and credentials are refused at submission', async () => {
    const image = await testImage();
    for (const webhook of [
      'http://127.0.0.1:1/x',
      `http://localhost:${port}/x`,
      'http://169.254.169.254/latest/meta-data',
      `ftp://127.0.0.1:${port}/x`,
      `http://u:p@127.0.0.1:${port}/x`,
      'not a url',
    ]) {
      const r = await submit(service.url, { method: 'gradient', webhook }, [{ field: 'image', bytes: image, name: 'a.png' }]);
      assert.equal(r.status, 400, webhook);
      assert.equal((r.body['error'] as { code: string }).code, 'SALIENCY_VALIDATION');
    }
  });

  test('without WEBHOOK_SECRET and an allow-list the field is refused', () => {
    const webhooks = new Webhooks(loadConfig({}), service.backend.queue, pino({ level: 'silent' }));
    assert.throws(() => webhooks.check(`http://127.0.0.1:${port}/x`), /not enabled/);
    assert.equal(webhooks.check(undefined), undefined);
  });
});
