// openapi/openapi.json is generated from the routes and committed; this fails when it is stale.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateOpenapi } from '../../src/gateway/openapi-document.js';
import { ROOT } from '../helpers/paths.js';

test('openapi/openapi.json matches the routes (regenerate with `npm run openapi`)', async () => {
  const committed = readFileSync(join(ROOT, 'openapi', 'openapi.json'), 'utf8');
  const generated = await generateOpenapi();
  assert.equal(committed, generated, 'openapi/openapi.json is stale: run `npm run openapi` and commit it');
  const doc = JSON.parse(generated) as { paths: Record<string, unknown> };
  for (const path of ['/v1/explanations', '/v1/explanations/{id}', '/v1/explanations/{id}/events', '/v1/explanations/{id}/heatmap.png', '/v1/models', '/v1/methods', '/healthz', '/readyz', '/metrics']) {
    assert.ok(doc.paths[path], `missing ${path}`);
  }
});
