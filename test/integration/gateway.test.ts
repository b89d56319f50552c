// The API through real HTTP, against both runners: the embedded queue and BullMQ on Redis.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { decodeNpy, encodeNpy } from '../../src/imaging/npy.js';
import { type Json, json, readEvents, submit, testImage, waitFor } from '../helpers/http.js';
import { pngClaiming } from '../helpers/png-bomb.js';
import { type TestService, startService } from '../helpers/service.js';

type Explanation = Record<string, unknown> & { id: string; status: string; links: Record<string, string> };
const first = (r: Json) => (r.body['explanations'] as Explanation[])[0] as Explanation;
const code = (r: Json) => (r.body['error'] as { code: string } | undefined)?.code;

for (const mode of ['embedded', 'redis'] as const) {
  describe(`API with the ${mode} runner`, () => {
    let service: TestService;
    let url: string;
    let image: Buffer;
    before(async () => {
      service = await startService(mode);
      url = service.url;
      image = await testImage();
    });
    after(async () => service.close());

    test('POST with Prefer: wait answers 200 with the completed explanation', async () => {
      const r = await submit(
        url,
        { method: 'smoothgrad', samples: '6', seed: '7', target: 'three' },
        [{ field: 'image', bytes: image, name: 'photo.png', type: 'image/png' }],
        '',
        { prefer: 'wait=30' },
      );
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const e = first(r);
      assert.equal(e.status, 'completed');
      assert.equal(e['target'], 3);
      assert.deepEqual((e['params'] as Record<string, unknown>)['seed'], 7);
      const prediction = e['prediction'] as { target: number; label: string; top5: unknown[] };
      assert.equal(prediction.target, 3);
      assert.equal(prediction.label, 'three');
      assert.equal(prediction.top5.length, 5);
      assert.deepEqual((e['attribution'] as { shape: number[] }).shape, [1, 3, 32, 32]);
      assert.deepEqual(e['image'], { width: 96, height: 64, format: 'png' });
    });

    test('POST without wait answers 202 with the resolved parameters and links; GET polls to completion', async () => {
      const r = await submit(url, { method: 'integrated-gradients', steps: '8' }, [{ field: 'image', bytes: image, name: 'a.png' }]);
      assert.equal(r.status, 202);
      const e = first(r);
      const params = e['params'] as Record<string, unknown>;
      assert.equal(params['steps'], 8);
      assert.equal(params['rule'], 'gauss-legendre');
      assert.equal(typeof params['seed'], 'number');
      assert.equal(r.headers.get('location'), `/v1/explanations/${e.id}`);
      const done = await waitFor(async () => {
        const s = await json(await fetch(`${url}${e.links['self']}`));
        return s.body['status'] === 'completed' ? s : undefined;
      });
      assert.equal(typeof (done.body['attribution'] as { completenessGap: number }).completenessGap, 'number');
      assert.equal(typeof (done.body['timings'] as { computeMs: number }).computeMs, 'number');
    });

    test('renderings: heatmap, overlay, attribution.npy and map.json from one stored attribution', async () => {
      const e = first(await submit(url, { method: 'gradient' }, [{ field: 'image', bytes: image, name: 'a.png' }], '?wait=30'));
      const heat = await fetch(`${url}${e.links['heatmap']}`);
      assert.equal(heat.status, 200);
      assert.equal(heat.headers.get('content-type'), 'image/png');
      assert.ok(Number(heat.headers.get('x-saliency-scale')) > 0);
      const heatPng = Buffer.from(await heat.arrayBuffer());
      assert.deepEqual(
        await sharp(heatPng)
          .metadata()
          .then((m) => [m.width, m.height]),
        [96, 64],
      );
      const small = await fetch(`${url}${e.links['heatmap']}?size=input&colormap=magma`);
      assert.deepEqual(
        await sharp(Buffer.from(await small.arrayBuffer()))
          .metadata()
          .then((m) => [m.width, m.height]),
        [32, 32],
      );
      const again = Buffer.from(await (await fetch(`${url}${e.links['heatmap']}`)).arrayBuffer());
      assert.deepEqual(again, heatPng, 'the same parameters give the same (cached) bytes');
      const overlay = await fetch(`${url}${e.links['overlay']}?overlay=0.7`);
      assert.equal(overlay.status, 200);
      const npy = decodeNpy(new Uint8Array(await (await fetch(`${url}${e.links['attribution']}`)).arrayBuffer()));
      assert.deepEqual(npy.shape, [1, 3, 32, 32]);
      const map = await json(await fetch(`${url}${e.links['map']}?reduce=abs-max`));
      assert.equal(map.body['width'], 32);
      assert.equal((map.body['values'] as number[][]).length, 32);
      const bad = await json(await fetch(`${url}${e.links['heatmap']}?colormap=rainbow`));
      assert.equal(bad.status, 400);
      assert.equal(code(bad), 'SALIENCY_BAD_RENDER_PARAM');
    });

    test('Server-Sent Events report progress, then the final state', async () => {
      const e = first(await submit(url, { method: 'smoothgrad', samples: '40' }, [{ field: 'image', bytes: image, name: 'a.png' }]));
      const events = await readEvents(`${url}${e.links['events']}`);
      assert.equal(events[0]?.event, 'status');
      assert.equal(events.at(-1)?.event, 'completed');
      assert.equal((events.at(-1)?.data as { status: string }).status, 'completed');
    });

    test('JSON with base64 images creates one job per image; a tensor upload is explained as is', async () => {
      const b64 = image.toString('base64');
      const r = await json(
        await fetch(`${url}/v1/explanations?wait=30`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'tiny', method: 'gradient', images: [b64, b64] }),
        }),
      );
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal((r.body['explanations'] as unknown[]).length, 2);
      const tensor = encodeNpy({ data: new Float32Array(3 * 32 * 32).fill(0.5), shape: [1, 3, 32, 32] });
      const baseline = encodeNpy({ data: new Float32Array(3 * 32 * 32).fill(-1), shape: [3, 32, 32] });
      const t = await submit(
        url,
        { method: 'integrated-gradients', baseline: 'uploaded', steps: '4' },
        [
          { field: 'tensor', bytes: tensor, name: 'x.npy' },
          { field: 'baseline', bytes: baseline, name: 'b.npy' },
        ],
        '?wait=30',
      );
      assert.equal(t.status, 200, JSON.stringify(t.body));
      assert.equal(first(t).status, 'completed');
      const overlay = await json(await fetch(`${url}${first(t).links['overlay']}`));
      assert.equal(code(overlay), 'SALIENCY_BAD_RENDER_PARAM');
    });

    test('DELETE cancels a running job, which stops at its next graph run', async () => {
      const e = first(await submit(url, { method: 'smoothgrad', samples: '1000' }, [{ field: 'image', bytes: image, name: 'a.png' }]));
      await waitFor(async () => ((await json(await fetch(`${url}${e.links['self']}`))).body['status'] === 'running' ? true : undefined));
      const cancelled = await fetch(`${url}${e.links['self']}`, { method: 'DELETE' });
      assert.equal(cancelled.status, 204);
      const gone = await json(await fetch(`${url}${e.links['self']}`));
      assert.equal(gone.status, 404);
      // The service keeps serving.
      const next = await submit(url, { method: 'gradient' }, [{ field: 'image', bytes: image, name: 'a.png' }], '?wait=30');
      assert.equal(first(next).status, 'completed');
    });

    test('catalogue: models, one model with labels, methods with defaults', async () => {
      const models = await json(await fetch(`${url}/v1/models`));
      assert.equal((models.body['models'] as { id: string }[])[0]?.id, 'tiny');
      const model = await json(await fetch(`${url}/v1/models/tiny`));
      assert.equal((model.body['labels'] as string[]).length, 10);
      const methods = await json(await fetch(`${url}/v1/methods`));
      const list = methods.body['methods'] as { name: string; defaults: Record<string, unknown>; bases?: string[] }[];
      assert.equal(list.length, 15);
      assert.deepEqual(list.find((m) => m.name === 'noisegrad')?.bases, ['gradient', 'gradient-x-input']);
      assert.ok(list.find((m) => m.name === 'smoothgrad')?.bases?.includes('grad-cam'));
      assert.equal(list.find((m) => m.name === 'gradient')?.bases, undefined);
      assert.equal(list.find((m) => m.name === 'smooth-grad-cam-plus-plus')?.defaults['samples'], 25);
      assert.equal(list.find((m) => m.name === 'smoothdiff')?.defaults['samples'], 20);
      assert.equal((await json(await fetch(`${url}/v1/models/nope`))).status, 404);
    });
  });
}

describe('bad input gets a documented 4xx and the service stays healthy', () => {
  let service: TestService;
  let url: string;
  let image: Buffer;
  before(async () => {
    service = await startService('embedded', { MAX_UPLOAD_BYTES: '200000', MAX_SAMPLES: '100', MAX_FILES: '2', MAX_IMAGE_PIXELS: '1000000' });
    url = service.url;
    image = await testImage();
  });
  after(async () => service.close());

  const png = (bytes: Buffer | Uint8Array) => [{ field: 'image', bytes, name: 'x.png', type: 'image/png' }];
  const bomb = () => pngClaiming(100_000, 100_000);
  const cases: [string, () => Promise<Json>, number, string][] = [
    ['corrupt image', async () => submit(url, {}, png(Buffer.from('not an image at all'))), 400, 'SALIENCY_IMAGE_UNREADABLE'],
    ['truncated image', async () => submit(url, {}, png(image.subarray(0, image.length / 2))), 400, 'SALIENCY_IMAGE_UNREADABLE'],
    ['zero bytes', async () => submit(url, {}, png(Buffer.alloc(0))), 400, 'SALIENCY_IMAGE_UNREADABLE'],
    ['decompression bomb', async () => submit(url, {}, png(bomb())), 413, 'SALIENCY_IMAGE_TOO_LARGE'],
    ['no file', async () => submit(url, { method: 'gradient' }, []), 400, 'SALIENCY_NO_INPUT'],
    [
      'wrong content type',
      async () => json(await fetch(`${url}/v1/explanations`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' })),
      415,
      'SALIENCY_UNSUPPORTED_MEDIA_TYPE',
    ],
    ['unknown model', async () => submit(url, { model: 'resnet9000' }, png(image)), 404, 'SALIENCY_UNKNOWN_MODEL'],
    ['unknown method', async () => submit(url, { method: 'magic' }, png(image)), 400, 'SALIENCY_VALIDATION'],
    ['unknown parameter', async () => submit(url, { method: 'gradient', colour: 'red' }, png(image)), 400, 'SALIENCY_VALIDATION'],
    ['NaN samples', async () => submit(url, { method: 'smoothgrad', samples: 'NaN' }, png(image)), 400, 'SALIENCY_VALIDATION'],
    ['negative noise', async () => submit(url, { method: 'smoothgrad', noise: '-1' }, png(image)), 400, 'SALIENCY_VALIDATION'],
    ['samples over the limit', async () => submit(url, { method: 'smoothgrad', samples: '101' }, png(image)), 400, 'SALIENCY_LIMIT_EXCEEDED'],
    ['huge steps', async () => submit(url, { method: 'integrated-gradients', steps: '1e12' }, png(image)), 400, 'SALIENCY_LIMIT_EXCEEDED'],
    ['fractional samples', async () => submit(url, { method: 'smoothgrad', samples: '2.5' }, png(image)), 400, 'SALIENCY_VALIDATION'],
    ['unknown target label', async () => submit(url, { target: 'zebra' }, png(image)), 400, 'SALIENCY_BAD_TARGET'],
    ['target out of range', async () => submit(url, { target: '10' }, png(image)), 400, 'SALIENCY_BAD_TARGET'],
    ['oversized upload', async () => submit(url, {}, png(Buffer.alloc(300_000, 1))), 413, 'SALIENCY_PAYLOAD_TOO_LARGE'],
    ['too many images', async () => submit(url, {}, [...png(image), ...png(image), ...png(image)]), 413, 'SALIENCY_TOO_MANY_FILES'],
    [
      'tensor of the wrong shape',
      async () => submit(url, {}, [{ field: 'tensor', bytes: encodeNpy({ data: new Float32Array(12), shape: [3, 2, 2] }), name: 't.npy' }]),
      400,
      'SALIENCY_BAD_TENSOR',
    ],
    ['tensor that is not .npy', async () => submit(url, {}, [{ field: 'tensor', bytes: Buffer.from('xx'), name: 't.npy' }]), 400, 'SALIENCY_BAD_TENSOR'],
    ['a base the method does not take', async () => submit(url, { method: 'noisegrad', base: 'guided-backprop' }, png(image)), 400, 'SALIENCY_VALIDATION'],
    ['Grad-CAM as a base of vargrad', async () => submit(url, { method: 'vargrad', base: 'grad-cam' }, png(image)), 400, 'SALIENCY_VALIDATION'],
    ['uploaded baseline missing', async () => submit(url, { method: 'integrated-gradients', baseline: 'uploaded' }, png(image)), 400, 'SALIENCY_VALIDATION'],
    [
      'malformed JSON',
      async () => json(await fetch(`${url}/v1/explanations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"method":' })),
      400,
      'SALIENCY_BAD_REQUEST',
    ],
    [
      'JSON image not base64',
      async () =>
        json(await fetch(`${url}/v1/explanations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ image: 42 }) })),
      400,
      'SALIENCY_BAD_REQUEST',
    ],
    ['unknown explanation id', async () => json(await fetch(`${url}/v1/explanations/does-not-exist`)), 404, 'SALIENCY_NOT_FOUND'],
    ['rendering an unknown explanation', async () => json(await fetch(`${url}/v1/explanations/does-not-exist/heatmap.png`)), 404, 'SALIENCY_NOT_FOUND'],
    ['wait out of range', async () => submit(url, {}, png(image), '?wait=-3'), 400, 'SALIENCY_VALIDATION'],
  ];
  for (const [what, send, status, expected] of cases) {
    test(`${what} → ${status} ${expected}`, async () => {
      const r = await send();
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal(code(r), expected);
      assert.match((r.body['error'] as { message: string }).message, /\w/);
    });
  }

  test('a rendering requested before completion answers 409', async () => {
    // Asked right after submission, a long job is not done yet; should one finish first anyway, a
    // longer one is tried, and the test fails unless some request met an unfinished job.
    let checked = 0;
    const attempts: Record<string, string>[] = [{ samples: '100' }, { samples: '100', base: 'integrated-gradients', steps: '200' }];
    for (const fields of attempts) {
      const e = first(await submit(url, { method: 'smoothgrad', ...fields }, png(image)));
      const early = await json(await fetch(`${url}${e.links['heatmap']}`));
      if (early.status === 200) continue;
      assert.equal(early.status, 409);
      assert.equal(code(early), 'SALIENCY_NOT_READY');
      checked++;
      break;
    }
    assert.equal(checked, 1, 'every job finished before its rendering was asked for');
  });

  test('after all that the service is healthy and explains', async () => {
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    const r = await submit(url, { method: 'gradient' }, png(image), '?wait=30');
    assert.equal(first(r).status, 'completed');
  });
});

describe('limits, auth and backpressure', () => {
  test('API keys: requests without a key get 401; another key cannot see the job', async () => {
    const service = await startService('embedded', { API_KEYS: 'alpha,beta' });
    try {
      const image = await testImage();
      const anonymous = await submit(service.url, {}, [{ field: 'image', bytes: image, name: 'a.png' }]);
      assert.equal(anonymous.status, 401);
      assert.equal(code(anonymous), 'SALIENCY_UNAUTHORIZED');
      const wrong = await submit(service.url, {}, [{ field: 'image', bytes: image, name: 'a.png' }], '', { authorization: 'Bearer gamma' });
      assert.equal(wrong.status, 401);
      const mine = first(await submit(service.url, {}, [{ field: 'image', bytes: image, name: 'a.png' }], '?wait=30', { authorization: 'Bearer alpha' }));
      assert.equal((await fetch(`${service.url}${mine.links['self']}`, { headers: { 'x-api-key': 'alpha' } })).status, 200);
      assert.equal((await fetch(`${service.url}${mine.links['self']}`, { headers: { 'x-api-key': 'beta' } })).status, 404);
      assert.equal((await fetch(`${service.url}${mine.links['heatmap']}`, { headers: { 'x-api-key': 'beta' } })).status, 404);
      assert.equal((await fetch(`${service.url}/healthz`)).status, 200, 'health checks need no key');
    } finally {
      await service.close();
    }
  });

  test('rate limit: beyond the allowance 429 with Retry-After', async () => {
    const service = await startService('embedded', { RATE_LIMIT_PER_MINUTE: '5' });
    try {
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 8; i++) {
        const r = await fetch(`${service.url}/v1/models`);
        statuses.push(r.status);
        if (r.status === 429) retryAfter = r.headers.get('retry-after');
      }
      assert.deepEqual(statuses.slice(0, 5), [200, 200, 200, 200, 200]);
      assert.equal(statuses.at(-1), 429);
      assert.ok(Number(retryAfter) >= 1);
    } finally {
      await service.close();
    }
  });

  test('queue depth limit: 503 with Retry-After', async () => {
    const service = await startService('embedded', { MAX_QUEUE_DEPTH: '1', WORKER_CONCURRENCY: '1' });
    try {
      const image = await testImage();
      const many = [1, 2, 3].map(() => ({ field: 'image', bytes: image, name: 'a.png' }));
      const r = await submit(service.url, { method: 'smoothgrad', samples: '200' }, many);
      assert.equal(r.status, 503);
      assert.equal(code(r), 'SALIENCY_QUEUE_FULL');
      assert.ok(r.headers.get('retry-after'));
    } finally {
      await service.close();
    }
  });

  test('Redis unavailable: 503 with Retry-After, quickly, never a hang', async () => {
    const service = await startService('redis', { REDIS_URL: 'redis://127.0.0.1:1' });
    try {
      const started = Date.now();
      const r = await submit(service.url, {}, [{ field: 'image', bytes: await testImage(), name: 'a.png' }]);
      assert.equal(r.status, 503);
      assert.equal(code(r), 'SALIENCY_UNAVAILABLE');
      assert.ok(r.headers.get('retry-after'));
      assert.ok(Date.now() - started < 10_000);
      assert.equal((await fetch(`${service.url}/readyz`)).status, 503);
    } finally {
      await service.close();
    }
  });
});

describe('content negotiation', () => {
  test('GET /v1/explanations/:id with Accept: image/png or application/x-npy redirects to the rendering', async () => {
    const service = await startService('embedded');
    try {
      const e = first(await submit(service.url, {}, [{ field: 'image', bytes: await testImage(), name: 'a.png' }], '?wait=30'));
      const png = await fetch(`${service.url}${e.links['self']}?colormap=gray`, { headers: { accept: 'image/png' }, redirect: 'manual' });
      assert.equal(png.status, 303);
      assert.equal(png.headers.get('location'), `${e.links['heatmap']}?colormap=gray`);
      const followed = await fetch(`${service.url}${e.links['self']}`, { headers: { accept: 'application/x-npy' } });
      assert.equal(followed.headers.get('content-type'), 'application/x-npy');
      const plain = await json(await fetch(`${service.url}${e.links['self']}`, { headers: { accept: 'application/json' } }));
      assert.equal(plain.body['status'], 'completed');
    } finally {
      await service.close();
    }
  });
});
