// No rendering parameter, alone or combined, makes a completed job's heatmap.png, overlay.png or
// map.json answer 5xx: each answers 200, or a 4xx with a SALIENCY_ code. Jobs cover a sensitivity
// map, a signed attribution, a one-channel Grad-CAM map, a tensor input (no original image) and
// an all-zero attribution.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { encodeNpy } from '../../src/imaging/npy.js';
import { type Json, json, submit, testImage } from '../helpers/http.js';
import { type TestService, startService } from '../helpers/service.js';

let service: TestService;
const jobs = new Map<string, Record<string, string>>();

const VALUES: Record<string, string[]> = {
  reduce: ['l2', 'abs-sum', 'abs-max', 'sum', 'mean', 'L2', 'max', ''],
  sign: ['abs', 'positive', 'negative', 'all', 'none'],
  clip: ['1e-9', '0.5', '50', '99.999', '100', '0', '-1', '101', 'NaN', 'Infinity', 'x', '1e400'],
  scale: ['image', '1e-300', '1e-30', '1', '1e30', '1e300', '0', '-1', 'Infinity', 'NaN', 'x', '5e-324'],
  colormap: ['viridis', 'inferno', 'magma', 'batlow', 'gray', 'RdBu', 'vik', 'jet', 'RDBU', 'rainbow'],
  overlay: ['0', '1', '0.5', '-0.1', '2', 'NaN'],
  size: ['input', 'original', 'huge'],
};

/** Every value of each parameter alone, every reduce × sign pair, and extremes of the others with each sign. */
function queries(route: string): string[] {
  const params = route === 'map' ? ['reduce', 'sign', 'clip', 'scale'] : Object.keys(VALUES);
  const out = [''];
  for (const p of params) for (const v of VALUES[p] as string[]) out.push(`${p}=${encodeURIComponent(v)}`);
  for (const r of VALUES['reduce'] as string[]) for (const s of VALUES['sign'] as string[]) out.push(`reduce=${r}&sign=${s}`);
  for (const s of ['abs', 'positive', 'negative', 'all']) {
    for (const extreme of ['clip=100&scale=1e-300', 'clip=1e-9&scale=1e300', 'clip=100&scale=5e-324', 'reduce=sum&clip=1e-9']) out.push(`sign=${s}&${extreme}`);
    if (route !== 'map') out.push(`sign=${s}&colormap=gray&size=input&overlay=1`, `sign=${s}&colormap=jet&size=original&overlay=0`);
  }
  out.push('reduce=l2&reduce=sum', 'clip=5&clip=6', 'unknown=1', 'scale=image&scale=2');
  return out;
}

before(async () => {
  service = await startService('embedded');
  const image = await testImage();
  const zeros = encodeNpy({ data: new Float32Array(3 * 32 * 32), shape: [1, 3, 32, 32] });
  const ramp = encodeNpy({ data: Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => (i % 97) / 97), shape: [1, 3, 32, 32] });
  const submissions: [string, Record<string, string>, { field: string; bytes: Uint8Array; name: string }][] = [
    ['sensitivity', { method: 'gradient' }, { field: 'image', bytes: image, name: 'a.png' }],
    ['signed', { method: 'integrated-gradients', steps: '4' }, { field: 'image', bytes: image, name: 'a.png' }],
    ['grad-cam', { method: 'grad-cam' }, { field: 'image', bytes: image, name: 'a.png' }],
    ['tensor', { method: 'gradient' }, { field: 'tensor', bytes: ramp, name: 'x.npy' }],
    ['zero', { method: 'gradient-x-input' }, { field: 'tensor', bytes: zeros, name: 'x.npy' }],
  ];
  for (const [name, fields, file] of submissions) {
    const r = await submit(service.url, fields, [file], '', { prefer: 'wait=30' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const e = (r.body['explanations'] as { status: string; links: Record<string, string> }[])[0];
    assert.equal(e?.status, 'completed', `${name}: ${JSON.stringify(r.body)}`);
    jobs.set(name, e.links);
  }
});
after(async () => service?.close());

test('no rendering parameter combination on a completed job answers 5xx', async () => {
  const failures: string[] = [];
  let answered = 0;
  for (const [job, links] of jobs) {
    for (const route of ['heatmap', 'overlay', 'map']) {
      for (const q of queries(route)) {
        const path = `${links[route]}${q ? `?${q}` : ''}`;
        const r: Json = await json(await fetch(`${service.url}${path}`));
        answered++;
        const code = (r.body['error'] as { code?: string } | undefined)?.code;
        if (r.status >= 500 || (r.status !== 200 && !code?.startsWith('SALIENCY_')))
          failures.push(`${job} ${path} → ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      }
    }
  }
  assert.ok(answered > 500, `${answered} requests`);
  assert.deepEqual(failures, []);
});
