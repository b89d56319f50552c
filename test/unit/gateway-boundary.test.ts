// Pure parts of the HTTP boundary: the job cost model, the render size cap, the rendering cache,
// duplicate JSON members.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/config.js';
import { jobCost } from '../../src/gateway/job-cost.js';
import { duplicateTopLevelKey } from '../../src/gateway/plugins/json-body.js';
import { RenderCache } from '../../src/gateway/render-cache.js';
import { fitWithin } from '../../src/imaging/render.js';
import { METHODS } from '../../src/methods/params.js';

const IMAGENET: [number, number] = [224, 224];

test('every method’s defaults cost at least one point and pass the default limits at 224×224', () => {
  const config = loadConfig({});
  for (const method of METHODS) {
    for (const base of method.startsWith('smoothgrad') || method === 'vargrad' ? (['gradient', 'integrated-gradients'] as const) : [undefined]) {
      const cost = jobCost(IMAGENET, { method, ...(base ? { base } : {}) });
      assert.ok(cost.points >= 1, method);
      assert.ok(cost.points <= config.MAX_JOB_POINTS && cost.pixels <= config.MAX_JOB_PIXELS, `${method} ${base ?? ''}: ${cost.points}`);
    }
  }
});

test('graph points: IG steps, samples × base steps, SmoothDiff samples + 1, presets included', () => {
  assert.equal(jobCost(IMAGENET, { method: 'gradient' }).points, 1);
  assert.equal(jobCost(IMAGENET, { method: 'integrated-gradients', steps: 1000 }).points, 1000);
  assert.equal(jobCost(IMAGENET, { method: 'smoothgrad', samples: 30 }).points, 30);
  assert.equal(jobCost(IMAGENET, { method: 'smoothgrad', samples: 30, steps: 999 }).points, 30, 'steps are not read over a gradient base');
  const big = jobCost(IMAGENET, { method: 'smoothgrad', base: 'integrated-gradients', samples: 1000, steps: 1000 });
  assert.equal(big.points, 1_000_000);
  assert.equal(big.pixels, 1_000_000 * 224 * 224);
  assert.equal(big.formula, '1 image × 1000 samples × 1000 steps');
  assert.ok(big.points > loadConfig({}).MAX_JOB_POINTS);
  assert.equal(jobCost(IMAGENET, { method: 'smoothdiff' }).points, 21);
  assert.equal(jobCost(IMAGENET, { method: 'smoothgrad', preset: 'xplique' }).points, 50);
  assert.equal(jobCost(IMAGENET, { method: 'guided-grad-cam' }).points, 2);
  assert.equal(jobCost(IMAGENET, { method: 'grad-cam-plus-plus' }).points, 1);
  assert.equal(jobCost(IMAGENET, { method: 'smooth-grad-cam-plus-plus' }).points, 26, '25 noisy copies + the clean pass');
  assert.equal(jobCost(IMAGENET, { method: 'smoothgrad', base: 'grad-cam', samples: 7 }).points, 7);
  assert.equal(jobCost(IMAGENET, { method: 'adaptgrad' }).points, 50);
  assert.equal(jobCost(IMAGENET, { method: 'noisegrad' }).points, 10);
  assert.equal(jobCost(IMAGENET, { method: 'fusiongrad' }).points, 100, '10 models × 10 samples');
  assert.equal(jobCost(IMAGENET, { method: 'gradient' }, 1, 3).points, 3, 'three targets');
  assert.equal(jobCost(IMAGENET, { method: 'vargrad', samples: 4, base: 'integrated-gradients', steps: 8 }, 3).points, 96);
});

test('fitWithin keeps small sizes and shrinks big ones to the largest size within the cap, same aspect', () => {
  assert.deepEqual(fitWithin({ width: 640, height: 480 }, 8_000_000), { width: 640, height: 480 });
  const capped = fitWithin({ width: 8000, height: 5000 }, 8_000_000);
  assert.ok(capped.width * capped.height <= 8_000_000);
  assert.ok(capped.width * capped.height > 7_990_000, `${capped.width}×${capped.height}`);
  assert.ok(Math.abs(capped.width / capped.height - 1.6) < 0.001);
  const strip = fitWithin({ width: 100_000, height: 3 }, 1024);
  assert.ok(strip.width * strip.height <= 1024 && strip.height >= 1);
});

test('the rendering cache holds at most its bytes, drops the least recently used first, and shares concurrent work', async () => {
  let now = 0;
  const cache = new RenderCache(8000, 1000, () => now);
  const png = (n: number) => ({ png: Buffer.alloc(n), scale: 1, clipValue: 1 });
  let computed = 0;
  const make = (n: number) => async () => {
    computed++;
    await new Promise((r) => setTimeout(r, 5));
    return png(n);
  };
  await Promise.all([cache.get('a', make(900)), cache.get('a', make(900))]);
  assert.equal(computed, 1, 'one computation for two concurrent requests');
  for (const k of ['b', 'c', 'd', 'e', 'f', 'g', 'h']) await cache.get(k, make(900));
  assert.equal(cache.size, 7200);
  await cache.get('a', make(900)); // a hit: now the most recent
  assert.equal(computed, 8);
  await cache.get('i', make(900)); // evicts b, the least recently used
  assert.ok(cache.size <= 8000);
  await cache.get('a', make(900));
  assert.equal(computed, 9, 'a stayed');
  await cache.get('b', make(900));
  assert.equal(computed, 10, 'b was evicted');
  await cache.get('huge', make(5000));
  assert.ok(cache.size <= 8000, 'an entry over an eighth of the cache is served but not kept');
  now = 2000;
  await cache.get('a', make(900));
  assert.equal(computed, 12, 'entries expire');
  cache.deletePrefix('');
  assert.equal(cache.size, 0);
});

test('duplicate top-level JSON members are found after unescaping; nested, quoted and malformed text is not mistaken', () => {
  assert.equal(duplicateTopLevelKey('{"a":1,"b":2}'), undefined);
  assert.equal(duplicateTopLevelKey('{"a":1,"a":2}'), 'a');
  assert.equal(duplicateTopLevelKey('{ "a" : 1 , "\\u0061" : 2 }'), 'a');
  assert.equal(duplicateTopLevelKey('{"a":{"a":1},"b":[{"a":2}]}'), undefined);
  assert.equal(duplicateTopLevelKey('{"a":"x\\":\\"a\\":","b":"a"}'), undefined);
  assert.equal(duplicateTopLevelKey('{"image":"' + 'QUJD'.repeat(100000) + '","image":"x"}'), 'image');
  assert.equal(duplicateTopLevelKey('{"a":1,"a'), undefined);
  assert.equal(duplicateTopLevelKey('[{"a":1},{"a":1}]'), undefined);
});
