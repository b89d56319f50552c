// The /docs page in a headless Chromium: Swagger UI renders every operation of the document under
// the page's CSP, with no request to another origin. A screenshot goes to test-artifacts/docs/.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { browserMissing, launchBrowser } from '../helpers/browser.js';
import { ROOT } from '../helpers/paths.js';
import { startService } from '../helpers/service.js';

const ARTIFACTS = join(ROOT, 'test-artifacts', 'docs');

test('/docs renders the OpenAPI document with locally served Swagger UI', { skip: browserMissing() ?? false, timeout: 120_000 }, async () => {
  const service = await startService('embedded');
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    const origins = new Set<string>();
    const problems: string[] = [];
    page.on('request', (r) => origins.add(new URL(r.url()).origin));
    page.on('pageerror', (err) => problems.push(err.message));
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    await page.goto(`${service.url}/docs`);
    await page.waitForSelector('.opblock-summary-path', { timeout: 30_000 });
    const paths = await page.locator('.opblock-summary-path').allTextContents();
    const document = (await (await fetch(`${service.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const operations = Object.values(document.paths).reduce((n, item) => n + Object.keys(item).length, 0);
    assert.equal(paths.length, operations, `every operation is shown: ${paths.join(' ')}`);
    assert.ok(paths.some((p) => p.replace(/\u200b/g, '') === '/v1/explanations'));
    assert.deepEqual(
      [...origins].filter((o) => o.startsWith('http')),
      [new URL(service.url).origin],
      'nothing fetched from another origin',
    );
    assert.deepEqual(problems, []);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'docs.png'), fullPage: false });
  } finally {
    await browser.close();
    await service.close();
  }
});
