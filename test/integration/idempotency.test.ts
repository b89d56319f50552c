// Idempotency-Key on POST /v1/explanations over real HTTP, both runners: a retry gets the first
// answer and creates no job; another body under the key is 422; a retry while the first is still
// being processed is 409; a refused submission leaves the key free (also one refused part-way
// through, after its first job was accepted); keys are per API key.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { type Json, json, submit, testImage, waitFor } from '../helpers/http.js';
import { type TestService, startService } from '../helpers/service.js';

type Explanation = { id: string; status: string };
const ids = (r: Json) => (r.body['explanations'] as Explanation[]).map((e) => e.id);
const code = (r: Json) => (r.body['error'] as { code: string } | undefined)?.code;

for (const mode of ['embedded', 'redis'] as const) {
  describe(`Idempotency-Key with the ${mode} runner`, () => {
    let service: TestService;
    let url: string;
    let image: Buffer;
    const alpha = { authorization: 'Bearer alpha' };
    before(async () => {
      service = await startService(mode, { API_KEYS: 'alpha,beta' });
      url = service.url;
      image = await testImage();
    });
    after(async () => service.close());

    const png = () => [{ field: 'image', bytes: image, name: 'a.png', type: 'image/png' }];
    const key = () => `key-${Math.random().toString(36).slice(2)}`;
    const depth = () => service.backend.queue.depth();

    test('the same key and body: the first answer again, no second job', async () => {
      const k = key();
      const first = await submit(url, { method: 'gradient', seed: '3' }, png(), '', { ...alpha, 'idempotency-key': k });
      assert.equal(first.status, 202, JSON.stringify(first.body));
      assert.equal(first.headers.get('idempotent-replayed'), null);
      const before = await depth();
      const again = await submit(url, { method: 'gradient', seed: '3' }, png(), '', { ...alpha, 'idempotency-key': k });
      assert.equal(again.status, 202);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      assert.equal(again.headers.get('location'), first.headers.get('location'));
      assert.deepEqual(again.body, first.body);
      assert.ok((await depth()) <= before, 'no job was added');
      // The same request sent as JSON is the same request.
      const asJson = await json(
        await fetch(`${url}/v1/explanations`, {
          method: 'POST',
          headers: { ...alpha, 'idempotency-key': k, 'content-type': 'application/json' },
          body: JSON.stringify({ image: image.toString('base64'), method: 'gradient', seed: 3 }),
        }),
      );
      assert.deepEqual(ids(asJson), ids(first));
    });

    test('the same key with another body: 422', async () => {
      const k = key();
      assert.equal((await submit(url, { method: 'gradient' }, png(), '', { ...alpha, 'idempotency-key': k })).status, 202);
      const other = await submit(url, { method: 'gradient-x-input' }, png(), '', { ...alpha, 'idempotency-key': k });
      assert.equal(other.status, 422);
      assert.equal(code(other), 'SALIENCY_IDEMPOTENCY_KEY_REUSED');
      const otherImage = await submit(url, { method: 'gradient' }, [{ field: 'image', bytes: await testImage(64, 64), name: 'b.png' }], '', {
        ...alpha,
        'idempotency-key': k,
      });
      assert.equal(otherImage.status, 422);
    });

    test('a retry while the first is still waiting: 409 with Retry-After; after it, the final answer', async () => {
      const k = key();
      const headers = { ...alpha, 'idempotency-key': k };
      // 10⁴ gradient points: the first request is still waiting when the retry comes.
      const fields = { method: 'smoothgrad', base: 'integrated-gradients', samples: '100', steps: '100' };
      const submitted = async () =>
        [...(await (await fetch(`${url}/metrics`)).text()).matchAll(/^saliency_jobs_submitted_total\{[^}]*\} (\d+)$/gm)].reduce(
          (sum, m) => sum + Number(m[1]),
          0,
        );
      const baseline = await submitted();
      const firstPromise = submit(url, fields, png(), '?wait=60', headers);
      // Its job exists, so it holds the key.
      await waitFor(async () => ((await submitted()) > baseline ? true : undefined));
      const conflict = await submit(url, fields, png(), '', headers);
      assert.equal(conflict.status, 409, JSON.stringify(conflict.body));
      assert.equal(code(conflict), 'SALIENCY_IDEMPOTENCY_IN_FLIGHT');
      assert.equal(conflict.headers.get('retry-after'), '1');
      const first = await firstPromise;
      assert.equal(first.status, 200, JSON.stringify(first.body));
      const replay = await submit(url, fields, png(), '?wait=60', headers);
      assert.equal(replay.status, 200);
      assert.equal(replay.headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(ids(replay), ids(first));
      assert.equal((replay.body['explanations'] as Explanation[])[0]?.status, 'completed');
    });

    test('a refused submission leaves the key free for the corrected one', async () => {
      const k = key();
      const refused = await submit(url, { method: 'magic' }, png(), '', { ...alpha, 'idempotency-key': k });
      assert.equal(refused.status, 400);
      const corrected = await submit(url, { method: 'gradient' }, png(), '', { ...alpha, 'idempotency-key': k });
      assert.equal(corrected.status, 202, JSON.stringify(corrected.body));
    });

    test('keys belong to one API key; a malformed key is a 400', async () => {
      const k = key();
      const a = await submit(url, { method: 'gradient' }, png(), '', { ...alpha, 'idempotency-key': k });
      const b = await submit(url, { method: 'gradient' }, png(), '', { authorization: 'Bearer beta', 'idempotency-key': k });
      assert.equal(b.status, 202);
      assert.notDeepEqual(ids(a), ids(b));
      const bad = await submit(url, { method: 'gradient' }, png(), '', { ...alpha, 'idempotency-key': 'x'.repeat(300) });
      assert.equal(bad.status, 400);
      assert.equal(code(bad), 'SALIENCY_VALIDATION');
    });
  });
}

describe('Idempotency-Key of a submission that fails after its first job was accepted', () => {
  let service: TestService;
  before(async () => {
    // 1 MiB of memory store: the first of two ~0.5 MB images fits, the second does not.
    service = await startService('embedded', { EMBEDDED_STORE_MB: '1' });
  });
  after(async () => service.close());

  test('the store fills up at the second image: the jobs are rolled back and the key is free at once, not 409 for minutes', async () => {
    const noise = async () => {
      const pixels = Buffer.alloc(420 * 420 * 3);
      for (let i = 0; i < pixels.length; i++) pixels[i] = Math.floor(Math.random() * 256);
      return sharp(pixels, { raw: { width: 420, height: 420, channels: 3 } })
        .png({ compressionLevel: 0 })
        .toBuffer();
    };
    const files = [
      { field: 'image', bytes: await noise(), name: 'a.png' },
      { field: 'image', bytes: await noise(), name: 'b.png' },
    ];
    const headers = { 'idempotency-key': `key-${Math.random().toString(36).slice(2)}` };
    const refused = await submit(service.url, { method: 'gradient' }, files, '', headers);
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.equal(code(refused), 'SALIENCY_STORE_FULL');
    // The retry runs again (and is refused again for the same reason), instead of being told that
    // the first is still in flight.
    const retry = await submit(service.url, { method: 'gradient' }, files, '', headers);
    assert.equal(code(retry), 'SALIENCY_STORE_FULL', JSON.stringify(retry.body));
    // Nothing of the refused request is left running or stored.
    assert.equal(await service.backend.queue.depth(), 0);
    const small = await submit(service.url, { method: 'gradient' }, [{ field: 'image', bytes: await testImage(), name: 'c.png' }], '', {
      'idempotency-key': `key-${Math.random().toString(36).slice(2)}`,
    });
    assert.equal(small.status, 202, JSON.stringify(small.body));
  });
});
