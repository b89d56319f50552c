// The web page end to end: the real service with the embedded queue and the tiny
// fixture model, driven by a headless Chromium. Screenshots go to test-artifacts/web/.
// In-page code is passed as strings: the tests compile without the DOM typings.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Page } from 'playwright-core';
import { browserMissing, launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { testImage } from '../helpers/http.js';
import { ROOT } from '../helpers/paths.js';
import { startService, type TestService } from '../helpers/service.js';

const ARTIFACTS = join(ROOT, 'test-artifacts', 'web');

/** True once every <img> matched by `selector` has loaded a rendering, and there are `count` of them. */
const imagesLoaded = (selector: string, count: number) =>
  `(() => { const imgs = [...document.querySelectorAll(${JSON.stringify(selector)})]; return imgs.length === ${count} && imgs.every((i) => i.complete && i.naturalWidth > 0 && i.src.startsWith('blob:')); })()`;

/**
 * Polls an expression in the page. Not page.waitForFunction: that evaluates strings with eval,
 * which the page's CSP (rightly) forbids.
 */
async function until(page: Page, expression: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await page.evaluate(expression))) {
    if (Date.now() > end) throw new Error(`not true within ${timeoutMs} ms: ${expression}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Range inputs cannot be filled: set the value and fire `input` as a user's drag would. */
const slide = (page: Page, id: string, value: string) =>
  page.evaluate(
    `(() => { const el = document.getElementById(${JSON.stringify(id)}); el.value = ${JSON.stringify(value)}; el.dispatchEvent(new Event('input', { bubbles: true })); })()`,
  );

describe('web page', { skip: browserMissing() ?? false, timeout: 120_000 }, () => {
  let service: TestService;
  let browser: TestBrowser;
  let page: Page;
  let image: Buffer;
  const requests: { method: string; url: string }[] = [];
  const pageErrors: string[] = [];
  const count = (method: string) => requests.filter((r) => r.method === method && r.url.includes('/v1/explanations')).length;

  before(async () => {
    service = await startService('embedded');
    image = await testImage();
    await mkdir(ARTIFACTS, { recursive: true });
    browser = await launchBrowser();
    page = await browser.context.newPage();
    page.on('request', (r) => requests.push({ method: r.method(), url: r.url() }));
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`${service.url}/`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
  });

  after(async () => {
    await browser?.close();
    await service?.close();
  });

  test('the page and its assets are served from the allow-list, with a strict CSP', async () => {
    const index = await fetch(`${service.url}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const app = await fetch(`${service.url}/web/app.js`);
    assert.equal(app.status, 200);
    assert.match(app.headers.get('content-type') ?? '', /^text\/javascript/);
    for (const path of ['/web/..%2fpackage.json', '/web/..%2F..%2Fconfig%2Fconfig.ts', '/web/missing.js', '/web/']) {
      const r = await fetch(`${service.url}${path}`);
      assert.equal(r.status, 404, path);
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'SALIENCY_NO_ROUTE', path);
    }
    // Everything the page loaded came from the service itself (it works offline).
    const origin = new URL(service.url).origin;
    assert.ok(requests.length > 0);
    assert.deepEqual(
      requests.filter((r) => !r.url.startsWith(origin) && !r.url.startsWith('data:') && !r.url.startsWith('blob:')),
      [],
    );
  });

  test('every control has a label, and the tabs work from the keyboard', async () => {
    const unlabelled = (await page.evaluate(`[...document.querySelectorAll('input, select, button, textarea')]
      .filter((el) => !(el.labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || (el.tagName === 'BUTTON' && el.textContent.trim())))
      .map((el) => el.id || el.outerHTML.slice(0, 80))`)) as string[];
    assert.deepEqual(unlabelled, []);
    await page.focus('#tab-explain');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.getAttribute('#tab-compare', 'aria-selected'), 'true');
    assert.equal(await page.isVisible('#panel-compare'), true);
    await page.keyboard.press('ArrowLeft');
    assert.equal(await page.getAttribute('#tab-explain', 'aria-selected'), 'true');
  });

  test('an image can also be dropped on the page or pasted', async () => {
    const select = (event: string, name: string) =>
      page.evaluate(`(() => {
        const data = new DataTransfer();
        data.items.add(new File([new Uint8Array([137, 80, 78, 71])], ${JSON.stringify(name)}, { type: 'image/png' }));
        const event = ${event === 'drop' ? `new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true })` : `new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true })`};
        document.getElementById('drop').dispatchEvent(event);
      })()`);
    await select('drop', 'dropped.png');
    assert.match((await page.textContent('#file-info')) ?? '', /dropped\.png/);
    await select('paste', 'pasted.png');
    assert.match((await page.textContent('#file-info')) ?? '', /pasted\.png/);
  });

  test('Explain: upload, run smoothgrad, follow the progress bar, see the heatmap', async () => {
    await page.setInputFiles('#file', { name: 'photo.png', mimeType: 'image/png', buffer: image });
    await page.selectOption('#method', 'smoothgrad');
    // The method form comes from GET /v1/methods: smoothgrad reads samples and noise, with defaults.
    assert.equal(await page.inputValue('#p-samples'), '50');
    assert.equal(await page.inputValue('#p-noise'), '0.15');
    assert.equal(await page.isVisible('#p-steps'), false, 'steps only matter when the base is integrated-gradients');
    await page.selectOption('#p-base', 'integrated-gradients');
    assert.equal(await page.isVisible('#p-steps'), true);
    await page.selectOption('#p-base', 'gradient');
    await page.fill('#p-samples', '40');

    await page.evaluate(`(() => {
      const bar = document.getElementById('explain-progress');
      window.progressSeen = [];
      new MutationObserver(() => window.progressSeen.push(Number(bar.getAttribute('aria-valuenow')))).observe(bar, { attributes: true, attributeFilter: ['aria-valuenow'] });
    })()`);
    await page.click('#explain-run');
    await until(page, imagesLoaded('#img-heatmap, #img-overlay', 2), 20_000);
    const seen = (await page.evaluate('window.progressSeen')) as number[];
    assert.ok(
      seen.some((v) => v > 0),
      `the progress bar moved: ${JSON.stringify(seen)}`,
    );
    assert.equal(await page.getAttribute('#explain-progress', 'aria-valuenow'), '100');
    assert.match((await page.textContent('#explain-status')) ?? '', /^Done/);
    assert.equal(await page.locator('#top5 button').count(), 5);
    await until(page, `document.getElementById('colourbar-text').textContent.startsWith('viridis')`);
    assert.equal(count('POST'), 1);
    const posted = requests.find((r) => r.method === 'POST');
    assert.ok(posted?.url.endsWith('/v1/explanations'));
    await page.screenshot({ path: join(ARTIFACTS, 'explain.png'), fullPage: true, animations: 'disabled' });
  });

  test('rendering controls re-render the stored attribution without a new job', async () => {
    const before = await page.getAttribute('#img-heatmap', 'src');
    await page.selectOption('#r-colormap', 'inferno');
    await until(page, `document.getElementById('img-heatmap').dataset.api.includes('colormap=inferno')`);
    await until(page, imagesLoaded('#img-heatmap', 1));
    assert.notEqual(await page.getAttribute('#img-heatmap', 'src'), before);
    // The legend is drawn once both renderings (heatmap and overlay) are back.
    await until(page, `document.getElementById('colourbar-text').textContent.startsWith('inferno')`);
    await slide(page, 'r-clip', '95');
    await until(page, `document.getElementById('img-overlay').dataset.api.includes('clip=95')`);
    await slide(page, 'r-overlay', '0.8');
    await until(page, `document.getElementById('img-overlay').dataset.api.includes('overlay=0.8')`);
    assert.match((await page.getAttribute('#downloads a[download$=".npy"]', 'href')) ?? '', /\/attribution\.npy$/);
    assert.equal(count('POST'), 1, 'no new job');
    await page.screenshot({ path: join(ARTIFACTS, 'explain-inferno.png'), fullPage: true, animations: 'disabled' });
  });

  test('Compare: three methods in one grid with titles', async () => {
    await page.click('#tab-compare');
    await page.evaluate(`document.querySelectorAll('#compare-methods input').forEach((c) => { c.checked = false; })`);
    for (const method of ['gradient', 'integrated-gradients', 'grad-cam']) await page.check(`#compare-methods input[value="${method}"]`);
    await page.click('#compare-run');
    await until(page, imagesLoaded('#compare-grid img', 3), 30_000);
    assert.deepEqual(await page.locator('#compare-grid figcaption').allTextContents(), ['gradient', 'integrated-gradients', 'grad-cam']);
    assert.equal(count('POST'), 4);
    await until(page, `document.getElementById('compare-status').textContent.startsWith('Finished')`);
    await page.screenshot({ path: join(ARTIFACTS, 'compare.png'), fullPage: true, animations: 'disabled' });
  });

  test('Tune: a 2 × 2 sweep and the similarity plot', async () => {
    await page.click('#tab-tune');
    await page.selectOption('#tune-method', 'smoothgrad');
    await page.fill('#tune-noise', '0.05, 0.2');
    await page.fill('#tune-samples', '4, 16');
    await page.click('#tune-run');
    await until(page, imagesLoaded('#tune-grid img', 4), 30_000);
    await page.waitForSelector('#tune-plot svg polyline', { timeout: 15_000 });
    assert.equal(await page.locator('#tune-plot svg polyline').count(), 4, 'cosine and SSIM for each noise level');
    const rows = await page.evaluate(
      `[...document.querySelectorAll('#tune-plot table.numbers tbody tr')].map((tr) => [...tr.cells].map((c) => Number(c.textContent)))`,
    );
    assert.equal((rows as number[][]).length, 4);
    for (const [, n, reference, cos, ssim] of rows as number[][]) {
      assert.equal(reference, 16);
      if (n === 16) assert.deepEqual([cos, ssim], [1, 1], 'the reference is identical to itself');
      else assert.ok(cos! > 0 && cos! < 1 && ssim! > -1 && ssim! < 1, `similarities in range: ${cos} ${ssim}`);
    }
    assert.equal(count('POST'), 8);
    await page.screenshot({ path: join(ARTIFACTS, 'tune.png'), fullPage: true, animations: 'disabled' });
  });

  test("a corrupt upload shows the API's error code", async () => {
    await page.click('#tab-explain');
    await page.setInputFiles('#file', { name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from('this is not a PNG at all') });
    await page.click('#explain-run');
    await until(page, `document.getElementById('explain-error').textContent.includes('SALIENCY_IMAGE_UNREADABLE')`, 10_000);
    assert.match((await page.textContent('#explain-error')) ?? '', /SALIENCY_IMAGE_UNREADABLE.*decoded/);
    assert.equal(await page.getAttribute('#explain-error', 'role'), 'alert');
    await page.screenshot({ path: join(ARTIFACTS, 'error.png'), fullPage: true, animations: 'disabled' });
  });

  test('Cancel deletes the running job', async () => {
    await page.setInputFiles('#file', { name: 'photo.png', mimeType: 'image/png', buffer: image });
    await page.selectOption('#method', 'smoothgrad');
    await page.selectOption('#p-base', 'integrated-gradients');
    // 200 × 100 = 20 000 graph points: long enough to cancel, within MAX_JOB_POINTS.
    await page.fill('#p-samples', '200');
    await page.fill('#p-steps', '100');
    const posted = page.waitForResponse((r) => r.request().method() === 'POST');
    await page.click('#explain-run');
    await posted;
    await page.click('#explain-cancel');
    await until(page, `document.getElementById('explain-status').textContent.startsWith('Cancelled')`, 10_000);
    assert.equal(count('DELETE'), 1);
    assert.equal(await page.isEnabled('#explain-run'), true);
  });

  test('works at 375 px wide', async () => {
    await page.setViewportSize({ width: 375, height: 800 });
    await page.selectOption('#p-base', 'gradient');
    await page.fill('#p-samples', '8');
    await page.click('#explain-run');
    await until(page, `document.getElementById('explain-status').textContent.startsWith('Done')`, 20_000);
    await until(page, imagesLoaded('#img-heatmap, #img-overlay', 2));
    const overflow = (await page.evaluate('document.documentElement.scrollWidth')) as number;
    assert.ok(overflow <= 375, `no horizontal scrolling (scrollWidth ${overflow})`);
    await page.screenshot({ path: join(ARTIFACTS, 'mobile.png'), fullPage: true, animations: 'disabled' });
    assert.deepEqual(pageErrors, []);
  });
});

// The methods, targets and metrics the catalogue lists, on the demo model (six labelled shapes),
// so classes have names and the pixel-flipping curves mean something.
describe('web page: new methods, several classes, quality metrics', { skip: browserMissing() ?? false, timeout: 120_000 }, () => {
  let service: TestService;
  let browser: TestBrowser;
  let page: Page;
  const pageErrors: string[] = [];
  let posts = 0;
  /** The job behind the Explain tab's heatmap, as the API reports it. */
  const shownJob = async () => {
    const api = (await page.getAttribute('#img-heatmap', 'data-api')) ?? '';
    const id = /\/v1\/explanations\/([^/]+)\//.exec(api)?.[1];
    return (await (await fetch(`${service.url}/v1/explanations/${id}`)).json()) as { targets?: { index: number }[]; metrics?: Record<string, unknown> };
  };

  before(async () => {
    service = await startService('embedded', { MODELS_DIR: join(ROOT, 'models') });
    await mkdir(ARTIFACTS, { recursive: true });
    browser = await launchBrowser();
    page = await browser.context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('request', (r) => {
      if (r.method() === 'POST') posts++;
    });
    await page.goto(`${service.url}/`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
  });

  after(async () => {
    await browser?.close();
    await service?.close();
  });

  test('every method of GET /v1/methods is offered, with its own parameters and bases', async () => {
    const catalogue = (await (await fetch(`${service.url}/v1/methods`)).json()) as { methods: { name: string }[] };
    const names = catalogue.methods.map((m) => m.name);
    assert.ok(names.includes('grad-cam-plus-plus') && names.includes('noisegrad'), names.join(', '));
    assert.deepEqual(await page.locator('#method option').evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value)), names);
    const compare = await page.locator('#compare-methods input').evaluateAll((cs) => cs.map((c) => (c as unknown as { value: string }).value));
    for (const name of [...names, 'smoothgrad+integrated-gradients', 'smoothgrad+grad-cam']) assert.ok(compare.includes(name), name);
    const bases = () => page.locator('#p-base option').evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value));

    await page.selectOption('#method', 'smoothgrad');
    assert.ok((await bases()).includes('grad-cam'), 'Smooth Grad-CAM is smoothgrad over grad-cam');
    assert.equal(await page.isVisible('#p-layer'), false, 'the layer only matters over grad-cam');
    await page.selectOption('#p-base', 'grad-cam');
    assert.equal(await page.isVisible('#p-layer'), true);
    assert.equal(await page.isVisible('#p-steps'), false);

    await page.selectOption('#method', 'adaptgrad');
    assert.equal(await page.inputValue('#p-confidence'), '0.95');
    assert.ok(!(await bases()).includes('grad-cam'), 'grad-cam is a base of smoothgrad only');
    await page.selectOption('#method', 'noisegrad');
    assert.equal(await page.inputValue('#p-weightNoise'), '0.2');
    assert.equal(await page.inputValue('#p-models'), '10');
    assert.equal(await page.isChecked('#p-head'), true);
  });

  test('Grad-CAM++ for two classes with pixel flipping: a map per class and the MoRF and LeRF curves', async () => {
    await page.setInputFiles('#file', join(ROOT, 'models', 'demo', 'samples', 'star.png'));
    await page.selectOption('#method', 'grad-cam-plus-plus');
    await page.selectOption('#target-mode', 'classes');
    // The model's labels name the classes: 3 is star, 4 cross.
    assert.equal(await page.textContent('#target option[value="3"]'), '3: star');
    await page.fill('#target-filter', 'CR');
    assert.deepEqual(await page.locator('#target option:not([hidden])').allTextContents(), ['4: cross'], 'the filter finds classes by name');
    await page.fill('#target-filter', '');
    await page.selectOption('#target', ['3', '4']);
    await page.check('#metrics-fields input[value="pixel-flipping"]');
    await page.check('#metrics-fields input[value="sparseness"]');
    await page.fill('#flip-steps', '8');
    await page.click('#explain-run');
    await until(page, imagesLoaded('#explain-targets-grid img', 2), 30_000);
    assert.match((await page.textContent('#curl')) ?? '', / -F targets=3,4 (.* )?-F metrics=sparseness,pixel-flipping -F flip_steps=8 /);
    const job = await shownJob();
    assert.deepEqual(
      job.targets?.map((t) => t.index),
      [3, 4],
    );
    assert.deepEqual(Object.keys(job.metrics ?? {}).sort(), ['pixelFlipping', 'sparseness']);
    assert.deepEqual(await page.locator('#explain-targets-grid figcaption').allTextContents(), ['star (3)', 'cross (4)']);
    const apis = await page.locator('#explain-targets-grid img').evaluateAll((is) => is.map((i) => (i as unknown as { dataset: { api: string } }).dataset.api));
    assert.match(apis[0] ?? '', /[?&]target=3(&|$)/);
    assert.match(apis[1] ?? '', /[?&]target=4(&|$)/);
    assert.equal(await page.textContent('#cap-heatmap'), 'Heatmap: star');

    await page.waitForSelector('#flip-plot svg polyline');
    assert.equal(await page.locator('#flip-plot svg polyline').count(), 2, 'MoRF and LeRF');
    // Nine points a curve: the clean image, then eight steps.
    const points = await page.locator('#flip-plot svg polyline').evaluateAll((ls) => ls.map((l) => l.getAttribute('points')?.split(' ').length));
    assert.deepEqual(points, [9, 9]);
    assert.match((await page.textContent('#flip-plot h4')) ?? '', /^Pixel flipping: SRG -?\d/);
    const values = await page.locator('#explain-metrics-values dt').allTextContents();
    assert.deepEqual(values, ['sparseness', 'SRG (pixel flipping)']);
    const sparseness = Number(await page.getAttribute('#explain-metrics-values dd >> nth=0', 'data-value'));
    assert.ok(sparseness > 0 && sparseness < 1, `sparseness ${sparseness}`);
    await page.screenshot({ path: join(ARTIFACTS, 'targets-metrics.png'), fullPage: true, animations: 'disabled' });

    // Each class has its own metrics: the picker shows the second class's.
    assert.deepEqual(await page.locator('#metrics-class option').allTextContents(), ['star', 'cross']);
    await page.selectOption('#metrics-class', '1');
    assert.match((await page.textContent('#explain-metrics-for')) ?? '', /cross/);
    await page.waitForSelector('#flip-plot h4');
    assert.match((await page.textContent('#flip-plot svg title')) ?? '', /cross/);

    // Re-rendering re-draws every class's map, still without a new job.
    const jobs = posts;
    await page.selectOption('#r-colormap', 'inferno');
    await until(page, `[...document.querySelectorAll('#explain-targets-grid img')].every((i) => i.dataset.api.includes('colormap=inferno'))`);
    assert.equal(posts, jobs);
  });

  test('top k classes, and the Compare grid runs the new methods', async () => {
    await page.selectOption('#target-mode', 'top-k');
    await page.fill('#target-k', '2');
    await page.uncheck('#metrics-fields input[value="pixel-flipping"]');
    await page.uncheck('#metrics-fields input[value="sparseness"]');
    await page.click('#explain-run');
    await until(page, `document.getElementById('explain-status').textContent.startsWith('Done')`, 20_000);
    await until(page, imagesLoaded('#explain-targets-grid img', 2), 10_000);
    assert.match((await page.textContent('#curl')) ?? '', / -F targets=top-2 /);
    assert.equal((await shownJob()).targets?.length, 2);
    assert.equal(await page.isVisible('#explain-metrics'), false, 'no metrics asked for');
    // The most likely class comes first: the top-5 list's first button.
    const first = ((await page.textContent('#top5 li:first-child .name')) ?? '').trim();
    assert.match((await page.textContent('#explain-targets-grid figcaption >> nth=0')) ?? '', new RegExp(`^${first} `));

    await page.click('#tab-compare');
    await page.evaluate(`document.querySelectorAll('#compare-methods input').forEach((c) => { c.checked = false; })`);
    for (const key of ['grad-cam-plus-plus', 'smoothgrad+grad-cam']) await page.check(`#compare-methods input[value="${key}"]`);
    await page.click('#compare-run');
    await until(page, imagesLoaded('#compare-grid img', 2), 30_000);
    assert.deepEqual(
      await page.locator('#compare-grid figcaption').allTextContents(),
      ['smoothgrad over grad-cam', 'grad-cam-plus-plus'],
      'in the order of the list',
    );
    assert.deepEqual(pageErrors, []);
  });
});
