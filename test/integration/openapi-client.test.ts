// A client generated from the committed OpenAPI document (openapi-typescript types, openapi-fetch)
// drives a real server: submit → poll → heatmap → attribution.npy → map.json, typed end to end
// with no casts; this file compiling under the project's tsc is half of the test.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import createClient, { type Client } from 'openapi-fetch';
import sharp from 'sharp';
import type { components, paths } from '../../openapi/saliency-api.js';
import { decodeNpy } from '../../src/imaging/npy.js';
import { clientTypes } from '../helpers/client-types.js';
import { testImage } from '../helpers/http.js';
import { ROOT } from '../helpers/paths.js';
import { type TestService, startService } from '../helpers/service.js';

type Submission = NonNullable<paths['/v1/explanations']['post']['requestBody']>['content']['multipart/form-data'];

/** Multipart as a browser or Node sends it: files as Blobs, every other field as text. */
function multipart(body: Submission | Record<string, unknown> | undefined): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(body ?? {})) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item instanceof Blob) form.append(name, item, `${name}.bin`);
      else if (item !== undefined) form.append(name, String(item));
    }
  }
  return form;
}

test('openapi/saliency-api.d.ts is what openapi-typescript generates from openapi/openapi.json (regenerate with `npm run openapi`)', async () => {
  const committed = readFileSync(join(ROOT, 'openapi', 'saliency-api.d.ts'), 'utf8');
  assert.equal(committed, await clientTypes(join(ROOT, 'openapi', 'openapi.json')), 'openapi/saliency-api.d.ts is stale: run `npm run openapi` and commit it');
});

describe('a client generated from the OpenAPI document', () => {
  let service: TestService;
  let client: Client<paths>;
  let image: Blob;
  before(async () => {
    service = await startService('embedded', { API_KEYS: 'client-key' });
    client = createClient<paths>({ baseUrl: service.url, headers: { authorization: 'Bearer client-key' } });
    image = new Blob([new Uint8Array(await testImage(96, 64))], { type: 'image/png' });
  });
  after(async () => service.close());

  test('submit → poll → heatmap → npy → map.json', async () => {
    const submitted = await client.POST('/v1/explanations', {
      body: { image: [image], method: 'smoothgrad', samples: 4, seed: 11, target: 'three' },
      bodySerializer: multipart,
    });
    assert.equal(submitted.response.status, 202, JSON.stringify(submitted.error));
    assert.ok(submitted.data);
    const [accepted] = submitted.data.explanations;
    assert.ok(accepted);
    assert.equal(accepted.params['seed'], 11);

    let explanation: components['schemas']['Explanation'] = accepted;
    const deadline = Date.now() + 60_000;
    while (explanation.status === 'queued' || explanation.status === 'running') {
      assert.ok(Date.now() < deadline, `still ${explanation.status} after 60 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const polled = await client.GET('/v1/explanations/{id}', { params: { path: { id: accepted.id } } });
      assert.ok(polled.data, JSON.stringify(polled.error));
      explanation = polled.data;
    }
    assert.equal(explanation.status, 'completed', JSON.stringify(explanation.error));
    assert.equal(explanation.prediction?.target, 3);
    assert.deepEqual(explanation.attribution?.shape, [1, 3, 32, 32]);

    const heatmap = await client.GET('/v1/explanations/{id}/heatmap.png', {
      params: { path: { id: explanation.id }, query: { colormap: 'magma', size: 'input', clip: 99.5 } },
      parseAs: 'arrayBuffer',
    });
    assert.ok(heatmap.data, JSON.stringify(heatmap.error));
    assert.equal(heatmap.response.headers.get('content-type'), 'image/png');
    const meta = await sharp(Buffer.from(heatmap.data)).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 32, 32]);

    const npy = await client.GET('/v1/explanations/{id}/attribution.npy', { params: { path: { id: explanation.id } }, parseAs: 'arrayBuffer' });
    assert.ok(npy.data, JSON.stringify(npy.error));
    assert.equal(npy.response.headers.get('content-type'), 'application/x-npy');
    const raw = decodeNpy(new Uint8Array(npy.data));
    assert.deepEqual(raw.shape, [1, 3, 32, 32]);
    assert.ok(
      raw.data.some((v) => v !== 0),
      'the attribution is not all zeros',
    );

    const map = await client.GET('/v1/explanations/{id}/map.json', { params: { path: { id: explanation.id }, query: { reduce: 'abs-max' } } });
    assert.ok(map.data, JSON.stringify(map.error));
    assert.equal(map.data.values.length, map.data.height);
    assert.equal(map.data.values[0]?.length, map.data.width);
    assert.ok(map.data.values.flat().every((v) => Math.abs(v) <= map.data.clipValue));
  });

  test('the JSON body and Prefer: wait through the same client', async () => {
    const png = Buffer.from(await image.arrayBuffer()).toString('base64');
    const r = await client.POST('/v1/explanations', { body: { image: png, method: 'gradient' }, params: { header: { prefer: 'wait=30' } } });
    assert.equal(r.response.status, 200, JSON.stringify(r.error));
    assert.equal(r.data?.explanations[0]?.status, 'completed');
  });

  test('errors arrive typed, in the documented shape', async () => {
    const missing = await client.GET('/v1/explanations/{id}', { params: { path: { id: 'no-such-job' } } });
    assert.equal(missing.response.status, 404);
    assert.equal(missing.error?.error.code, 'SALIENCY_NOT_FOUND');
    const anonymous = createClient<paths>({ baseUrl: service.url });
    const denied = await anonymous.GET('/v1/models');
    assert.equal(denied.response.status, 401);
    assert.equal(denied.error?.error.code, 'SALIENCY_UNAUTHORIZED');
    const models = await client.GET('/v1/models');
    assert.ok(models.data?.models.some((m) => m.id === 'tiny'));
  });
});
