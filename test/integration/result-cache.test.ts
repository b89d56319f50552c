// The result cache over real HTTP, both runners: an exact repeat (model, input bytes, method,
// parameters with seed, target) is answered by the earlier job with `cached: true` and no new
// computation; anything different, another API key, `Cache-Control: no-cache` or a deleted job
// computes anew; equal images within one request stay separate jobs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Json, json, submit, testImage } from '../helpers/http.js';
import { type TestService, startService } from '../helpers/service.js';

type Explanation = { id: string; status: string; cached?: boolean; links: Record<string, string> };
const list = (r: Json) => r.body['explanations'] as Explanation[];
const one = (r: Json) => list(r)[0] as Explanation;

for (const mode of ['embedded', 'redis'] as const) {
  describe(`result cache with the ${mode} runner`, () => {
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

    const png = (bytes = image) => [{ field: 'image', bytes, name: 'a.png', type: 'image/png' }];
    const submittedJobs = async () =>
      [...(await (await fetch(`${url}/metrics`)).text()).matchAll(/^saliency_jobs_submitted_total\{[^}]*\} (\d+)$/gm)].reduce(
        (sum, m) => sum + Number(m[1]),
        0,
      );

    test('an exact repeat with a seed is answered by the stored result at once', async () => {
      const fields = { method: 'smoothgrad', samples: '8', seed: '5', target: 'three' };
      const first = await submit(url, fields, png(), '?wait=30', alpha);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(one(first).cached, undefined);
      const jobs = await submittedJobs();
      const again = await submit(url, fields, png(), '?wait=30', alpha);
      assert.equal(again.status, 200);
      assert.equal(one(again).cached, true);
      assert.equal(one(again).id, one(first).id);
      assert.equal(one(again).status, 'completed');
      assert.equal(await submittedJobs(), jobs, 'nothing was computed again');
      // Fields in another order, sent as JSON: the same request.
      const asJson = await json(
        await fetch(`${url}/v1/explanations`, {
          method: 'POST',
          headers: { ...alpha, 'content-type': 'application/json' },
          body: JSON.stringify({ target: 3, seed: 5, samples: 8, method: 'smoothgrad', image: image.toString('base64') }),
        }),
      );
      assert.equal(one(asJson).cached, true);
      assert.equal(one(asJson).id, one(first).id);
    });

    test('another seed, target, parameter or image, another API key, or Cache-Control: no-cache computes anew', async () => {
      const fields = { method: 'smoothgrad', samples: '8', seed: '6' };
      const base = one(await submit(url, fields, png(), '?wait=30', alpha));
      const variants: [string, Promise<Json>][] = [
        ['seed', submit(url, { ...fields, seed: '7' }, png(), '?wait=30', alpha)],
        ['target', submit(url, { ...fields, target: '1' }, png(), '?wait=30', alpha)],
        ['samples', submit(url, { ...fields, samples: '9' }, png(), '?wait=30', alpha)],
        ['image', submit(url, fields, png(await testImage(64, 64)), '?wait=30', alpha)],
        ['API key', submit(url, fields, png(), '?wait=30', { authorization: 'Bearer beta' })],
        ['no-cache', submit(url, fields, png(), '?wait=30', { ...alpha, 'cache-control': 'no-cache' })],
      ];
      for (const [what, pending] of variants) {
        const r = one(await pending);
        assert.notEqual(r.id, base.id, what);
        assert.equal(r.cached, undefined, what);
      }
    });

    test('a deleted job answers nothing; equal images in one request are separate jobs', async () => {
      const fields = { method: 'gradient', seed: '9' };
      const first = one(await submit(url, fields, png(), '?wait=30', alpha));
      assert.equal((await fetch(`${url}${first.links['self']}`, { method: 'DELETE', headers: alpha })).status, 204);
      const after = one(await submit(url, fields, png(), '?wait=30', alpha));
      assert.notEqual(after.id, first.id);
      assert.equal(after.cached, undefined);
      const pair = list(await submit(url, { method: 'gradient', seed: '10' }, [...png(), ...png()], '?wait=30', alpha));
      assert.equal(pair.length, 2);
      assert.notEqual(pair[0]?.id, pair[1]?.id);
    });

    test('a repeat while the first is still running follows that job', async () => {
      const fields = { method: 'smoothgrad', samples: '300', seed: '12' };
      const first = one(await submit(url, fields, png(), '', alpha));
      const again = one(await submit(url, fields, png(), '', alpha));
      assert.equal(again.id, first.id);
      assert.equal(again.cached, true);
    });
  });
}
