// Webhooks over real HTTP: a receiver on this machine's loopback fails the first delivery and
// accepts the retry; both carry the same webhook-id and a Standard Webhooks signature that the
// receiver verifies independently. Hosts off the allow-list are refused at submission. With
// Redis, deliveries outlive gateways: a job that ends while none runs, and a delivery retrying
// when its gateway stops, are delivered by the next gateway, once, whichever of two replicas.
// API_KEY_WEBHOOKS gives a key's jobs its webhook.
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../src/config/config.js';
import { BullmqJobQueue, startBullmqWorker } from '../../src/jobs/index.js';
import { PROCESSOR_FILE } from '../../src/worker/index.js';
import { retryDelayMs, signWebhook, webhookKey, Webhooks } from '../../src/gateway/webhooks.js';
import { submit, testImage, waitFor } from '../helpers/http.js';
import { removeKeys, type TestService, startService } from '../helpers/service.js';

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
  /** The status the receiver answered. */
  status: number;
}

interface Receiver {
  url: string;
  host: string;
  received: Received[];
  close(): Promise<void>;
}

/** A webhook receiver on the loopback; `answer(n)` is the status of the n-th delivery (from 1). */
async function startReceiver(answer: (n: number) => number): Promise<Receiver> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = answer(received.length + 1);
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url: `http://${host}/hooks/saliency`, host, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Checks a delivery as a receiver would: the signature over id, timestamp and body, and the event. */
function assertSigned({ headers, body }: Received, secret: string, jobId: string, state = 'completed'): void {
  const id = String(headers['webhook-id']);
  assert.equal(id, `msg_${jobId}`);
  const timestamp = String(headers['webhook-timestamp']);
  assert.ok(Math.abs(Number(timestamp) - Date.now() / 1000) < 600, 'a current timestamp');
  const expected = createHmac('sha256', Buffer.from(secret.slice(6), 'base64'))
    .update(`${id}.${timestamp}.${body}`)
    .digest('base64');
  assert.equal(headers['webhook-signature'], `v1,${expected}`);
  assert.equal(headers['content-type'], 'application/json');
  const event = JSON.parse(body) as { type: string; timestamp: string; data: { id: string; status: string } };
  assert.equal(event.type, `explanation.${state}`);
  assert.equal(event.data.id, jobId);
  assert.equal(event.data.status, state);
}

describe('webhooks delivered to an allowed receiver', () => {
  let receiver: Receiver;
  let port: string;
  let received: Received[];
  let service: TestService;
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  before(async () => {
    // The first delivery fails: the sender must retry.
    receiver = await startReceiver((n) => (n === 1 ? 503 : 204));
    received = receiver.received;
    port = receiver.host.split(':')[1] as string;
    service = await startService('embedded', { WEBHOOK_SECRET: secret, WEBHOOK_ALLOWED_HOSTS: receiver.host, WEBHOOK_RETRY_BASE_MS: '20' });
  });
  after(async () => {
    await service.close();
    await receiver.close();
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
    for (const delivery of received) assertSigned(delivery, secret, String(jobId));
    assert.equal(received.length, 2, 'no delivery after the accepted one');
  });

  test('a submission answered from the result cache gets a delivery of its own', async () => {
    const image = await testImage();
    const fields = { method: 'gradient', seed: '7', webhook: `http://127.0.0.1:${port}/hooks/saliency` };
    const first = await submit(service.url, fields, [{ field: 'image', bytes: image, name: 'a.png' }], '?wait=30');
    const jobId = (first.body['explanations'] as { id: string }[])[0]?.id;
    const before = received.length;
    await waitFor(async () => (received.some((r) => r.headers['webhook-id'] === `msg_${jobId}`) ? true : undefined));
    const again = await submit(service.url, fields, [{ field: 'image', bytes: image, name: 'a.png' }]);
    const [answer] = again.body['explanations'] as { id: string; cached?: boolean }[];
    assert.deepEqual([answer?.id, answer?.cached], [jobId, true]);
    await waitFor(async () => (received.length >= before + 2 ? true : undefined));
    for (const delivery of received.slice(before)) assertSigned(delivery, secret, String(jobId));
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

describe('webhooks of an API key (API_KEY_WEBHOOKS)', () => {
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const digest = (key: string) => createHash('sha256').update(key).digest('hex');
  let receiver: Receiver;
  let service: TestService;
  before(async () => {
    receiver = await startReceiver(() => 204);
    service = await startService('embedded', {
      API_KEYS: 'alpha,beta',
      API_KEY_WEBHOOKS: `${digest('alpha')}=${receiver.url}`,
      WEBHOOK_SECRET: secret,
      WEBHOOK_ALLOWED_HOSTS: receiver.host,
    });
  });
  after(async () => {
    await service.close();
    await receiver.close();
  });

  test("a job submitted with the key and no webhook field gets the key's webhook; another key's job does not", async () => {
    const image = await testImage();
    const files = [{ field: 'image', bytes: image, name: 'a.png' }];
    const other = await submit(service.url, { method: 'gradient' }, files, '?wait=30', { authorization: 'Bearer beta' });
    assert.equal(other.status, 200, JSON.stringify(other.body));
    const r = await submit(service.url, { method: 'gradient' }, files, '', { authorization: 'Bearer alpha' });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const jobId = String((r.body['explanations'] as { id: string }[])[0]?.id);
    const delivery = await waitFor(async () => receiver.received.find((d) => d.headers['webhook-id'] === `msg_${jobId}`));
    assertSigned(delivery, secret, jobId);
    const otherId = (other.body['explanations'] as { id: string }[])[0]?.id;
    assert.ok(!receiver.received.some((d) => d.headers['webhook-id'] === `msg_${otherId}`), "beta has no webhook: its job's end was not posted");
  });

  test('entries are checked at startup: a digest of no configured key, a host off the allow-list, a malformed entry', () => {
    const base = { API_KEYS: 'alpha', WEBHOOK_SECRET: secret, WEBHOOK_ALLOWED_HOSTS: receiver.host };
    const log = pino({ level: 'silent' });
    for (const [entries, why] of [
      [`${digest('gamma')}=${receiver.url}`, /entry 1: the digest is not that of a key in API_KEYS/],
      [`${digest('alpha')}=http://169.254.169.254/x`, /entry 1: .*not on this server's allow-list/],
      [`alpha=${receiver.url}`, /entry 1: expected/],
      [`${digest('alpha')}=${receiver.url},${digest('alpha')}=`, /entry 2: no URL/],
    ] as const) {
      assert.throws(() => new Webhooks(loadConfig({ ...base, API_KEY_WEBHOOKS: entries }), service.backend.queue, log), why, entries);
    }
    // Errors never repeat the key's digest.
    assert.throws(
      () => new Webhooks(loadConfig({ ...base, API_KEY_WEBHOOKS: `${digest('gamma')}=${receiver.url}` }), service.backend.queue, log),
      (err: Error) => !err.message.includes(digest('gamma')),
    );
  });
});

describe('durable webhooks (Redis): deliveries outlive the gateway that accepted the job', () => {
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const shared = `test-${process.pid}-webhooks-${Math.floor(Math.random() * 1e6)}`;
  let receiver: Receiver;
  let accepting = false;
  const started: TestService[] = [];
  const gateway = async () => {
    const service = await startService(
      'redis',
      {
        QUEUE_NAME: shared,
        KEY_PREFIX: shared,
        WEBHOOK_SECRET: secret,
        WEBHOOK_ALLOWED_HOSTS: receiver.host,
        WEBHOOK_RETRY_BASE_MS: '200',
        WEBHOOK_MAX_ATTEMPTS: '20',
      },
      { worker: false },
    );
    started.push(service);
    return service;
  };
  before(async () => {
    receiver = await startReceiver(() => (accepting ? 204 : 500));
  });
  after(async () => {
    for (const service of started) await service.close();
    await receiver.close();
    await removeKeys(shared);
  });

  const submitted = async (service: TestService) => {
    const r = await submit(service.url, { method: 'gradient', webhook: receiver.url }, [{ field: 'image', bytes: await testImage(), name: 'a.png' }]);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return String((r.body['explanations'] as { id: string }[])[0]?.id);
  };
  const deliveriesOf = (jobId: string) => receiver.received.filter((d) => d.headers['webhook-id'] === `msg_${jobId}`);

  test('a job that ends while no gateway runs is delivered by the next one, once, with two replicas up', async () => {
    accepting = true;
    const a = await gateway();
    const jobId = await submitted(a);
    await a.close();
    // Only now a worker: the job runs and ends with no gateway up.
    const worker = startBullmqWorker(a.config, PROCESSOR_FILE);
    const probe = new BullmqJobQueue(a.config);
    try {
      await waitFor(async () => ((await probe.status(jobId))?.state === 'completed' ? true : undefined), 120_000);
      assert.equal(deliveriesOf(jobId).length, 0, 'no gateway has run since the job was accepted');
      await Promise.all([gateway(), gateway()]);
      const [delivery] = await waitFor(async () => (deliveriesOf(jobId).length > 0 ? deliveriesOf(jobId) : undefined));
      assertSigned(delivery as Received, secret, jobId);
      // A second job through both replicas: still one delivery each, and none more for the first.
      const second = await submitted(started.at(-1) as TestService);
      await waitFor(async () => (deliveriesOf(second).length > 0 ? true : undefined), 120_000);
      assert.equal(deliveriesOf(jobId).length, 1, 'delivered exactly once');
      assert.equal(deliveriesOf(second).length, 1, 'delivered exactly once');
    } finally {
      await probe.close();
      await worker.close();
    }
  });

  test('a submission answered from the result cache gets a delivery of its own', async () => {
    accepting = true;
    const a = started.at(-1) ?? (await gateway());
    const worker = startBullmqWorker(a.config, PROCESSOR_FILE);
    try {
      const fields = { method: 'gradient', seed: '7', webhook: receiver.url };
      const files = async () => [{ field: 'image', bytes: await testImage(), name: 'a.png' }];
      const first = await submit(a.url, fields, await files(), '?wait=60');
      const jobId = String((first.body['explanations'] as { id: string }[])[0]?.id);
      await waitFor(async () => (deliveriesOf(jobId).length === 1 ? true : undefined), 60_000);
      const again = await submit(a.url, fields, await files());
      assert.equal((again.body['explanations'] as { cached?: boolean }[])[0]?.cached, true, JSON.stringify(again.body));
      await waitFor(async () => (deliveriesOf(jobId).length === 2 ? true : undefined), 60_000);
      for (const delivery of deliveriesOf(jobId)) assertSigned(delivery, secret, jobId);
    } finally {
      await worker.close();
    }
  });

  test('a delivery retrying when its gateway stops (the receiver answers 500) is finished by a new gateway, exactly once', async () => {
    for (const service of started.splice(0)) await service.close();
    accepting = false;
    const a = await gateway();
    const worker = startBullmqWorker(a.config, PROCESSOR_FILE);
    try {
      const jobId = await submitted(a);
      await waitFor(async () => (deliveriesOf(jobId).length > 0 ? true : undefined), 120_000);
      await a.close();
      started.splice(started.indexOf(a), 1);
      const beforeRestart = deliveriesOf(jobId).length;
      assert.ok(deliveriesOf(jobId).every((d) => d.status === 500));
      await gateway();
      accepting = true;
      await waitFor(async () => (deliveriesOf(jobId).some((d) => d.status === 204) ? true : undefined), 60_000);
      const all = deliveriesOf(jobId);
      assert.ok(all.length > beforeRestart, 'the new gateway delivered');
      assert.equal(all.filter((d) => d.status === 204).length, 1, 'accepted exactly once');
      for (const delivery of all) assertSigned(delivery, secret, jobId);
    } finally {
      await worker.close();
    }
  });
});
