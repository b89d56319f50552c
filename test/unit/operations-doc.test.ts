// docs/operations.md lists every configuration variable the schema accepts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigSchema } from '../../src/config/config.js';
import { ROOT } from '../helpers/paths.js';

test('docs/operations.md documents every configuration variable', () => {
  const text = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
  const missing = Object.keys(ConfigSchema.properties).filter((key) => !text.includes(`\`${key}\``));
  assert.deepEqual(missing, []);
});
