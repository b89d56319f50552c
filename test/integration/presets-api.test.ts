// Parity presets over HTTP: GET /v1/methods says what each preset reproduces (or why not), a
// request a library cannot answer is a 400, and a preset's result renders with its library's
// visualiser scaling by default.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { decodeNpy } from '../../src/imaging/npy.js';
import { METHODS, PRESETS } from '../../src/methods/params.js';
import { type Json, json, submit, testImage } from '../helpers/http.js';
import { type TestService, startService } from '../helpers/service.js';

let service: TestService;
let image: Buffer;
before(async () => {
  service = await startService('embedded');
  image = await testImage();
});
after(async () => service.close());

interface Entry {
  supported: boolean;
  call?: string;
  reason?: string;
  bases?: Record<string, Entry>;
}
const code = (r: Json) => (r.body['error'] as { code: string; message: string } | undefined)?.code;

test('GET /v1/methods names the library call of every preset × method, or why there is none', async () => {
  const r = await json(await fetch(`${service.url}/v1/methods`));
  assert.equal(r.status, 200);
  const methods = r.body['methods'] as { name: string; presets: Record<string, Entry> }[];
  for (const m of methods) {
    for (const preset of PRESETS) {
      const entry = m.presets[preset] as Entry;
      assert.ok(entry.supported ? entry.call : entry.reason, `${preset}/${m.name}`);
    }
  }
  const byName = (n: string) => methods.find((m) => m.name === n)?.presets ?? {};
  assert.match(byName('smoothgrad')['captum']?.call ?? '', /NoiseTunnel\(Saliency/);
  assert.match(byName('smoothgrad')['pair']?.call ?? '', /magnitude=True/);
  assert.equal(byName('smoothgrad')['xplique']?.bases?.['guided-backprop']?.supported, false);
  assert.equal(byName('smoothdiff')['captum']?.supported, false);
  assert.match(byName('grad-cam')['xplique']?.call ?? '', /conv_layer: the last layer with filters/);
  assert.equal(methods.length, METHODS.length);
  // The visualisers' defaults are the ones the renderer applies (plot_attributions' cmap is viridis).
  const scaling = (r.body['render'] as { scaling: { presets: Record<string, { call: string; defaults: Record<string, unknown> }> } }).scaling;
  assert.deepEqual(scaling.presets['xplique']?.defaults, { reduce: 'mean', sign: 'all', clip: 99.9 });
  assert.match(scaling.presets['pair']?.call ?? '', /VisualizeImageDiverging/);
});

test('a method the preset’s library lacks is a 400 that says so', async () => {
  for (const [method, preset] of [
    ['vargrad', 'pair'],
    ['gradient-x-input', 'pair'],
    ['smoothdiff', 'captum'],
    ['guided-grad-cam', 'xplique'],
  ]) {
    const r = await submit(service.url, { method: method as string, preset: preset as string }, [{ field: 'image', bytes: image, name: 'a.png' }]);
    assert.equal(r.status, 400, `${preset}/${method}`);
    assert.equal(code(r), 'SALIENCY_VALIDATION');
    assert.match((r.body['error'] as { message: string }).message, new RegExp(`preset '${preset}'`));
  }
});

test('xplique Saliency returns one channel; captum renders with its own scaling by default', async () => {
  const r = await submit(service.url, { method: 'gradient', preset: 'xplique' }, [{ field: 'image', bytes: image, name: 'a.png' }], '', { prefer: 'wait=30' });
  const e = (r.body['explanations'] as { links: Record<string, string>; attribution: { shape: number[] } }[])[0];
  assert.ok(e);
  assert.deepEqual(e.attribution.shape, [1, 1, 32, 32]);
  const npy = decodeNpy(new Uint8Array(await (await fetch(`${service.url}${e.links['attribution']}`)).arrayBuffer()));
  assert.ok(
    npy.data.every((v) => v >= 0),
    'max over channels of |g|',
  );

  const c = await submit(service.url, { method: 'gradient', preset: 'captum' }, [{ field: 'image', bytes: image, name: 'a.png' }], '', { prefer: 'wait=30' });
  const ce = (c.body['explanations'] as { links: Record<string, string> }[])[0];
  assert.ok(ce);
  const preset = await fetch(`${service.url}${ce.links['heatmap']}?size=input`);
  const service_ = await fetch(`${service.url}${ce.links['heatmap']}?size=input&scaling=service`);
  assert.equal(preset.status, 200);
  assert.equal(service_.status, 200);
  assert.notEqual(
    preset.headers.get('x-saliency-scale'),
    service_.headers.get('x-saliency-scale'),
    'the captum threshold is not the 99th percentile of the l2 map',
  );
});
