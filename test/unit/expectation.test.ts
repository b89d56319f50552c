// Validation errors say what a parameter accepts, from its schema.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type TSchema } from '@sinclair/typebox';
import { expectation } from '../../src/gateway/expectation.js';
import { MethodParamsSchema } from '../../src/jobs/contract.js';

const of = (name: string) => expectation(MethodParamsSchema.properties[name as keyof typeof MethodParamsSchema.properties] as TSchema);

test("a union reads as its members: an integer ≥ 1 or 'auto'", () => {
  assert.equal(of('samples'), "an integer ≥ 1 or 'auto'");
});

test('ranges, booleans, strings and literal sets', () => {
  assert.equal(of('tolerance'), 'a number > 0 and ≤ 1');
  assert.equal(of('seed'), 'an integer from 0 to 4294967295');
  assert.equal(of('confidence'), 'a number > 0 and < 1');
  assert.equal(of('unbiased'), 'true or false');
  assert.equal(of('layer'), 'a string of 1–512 characters');
  assert.match(of('method'), /^one of 'gradient', 'gradient-x-input', /);
});
