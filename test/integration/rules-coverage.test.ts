// Rule coverage from the registry: every registered backward rule has an adjoint case (linear)
// or a finite-difference case (nonlinear), so nothing registered goes untested.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { registeredRules } from '../../src/gradgraph/rules/index.js';
import { adjointCases } from './rules-adjoint.cases.js';
import { fdCases } from './rules-finite-difference.cases.js';

const key = (domain: string | undefined, opType: string | undefined) => `${domain || 'ai.onnx'}:${opType ?? ''}`;

test('every registered rule has an adjoint or a finite-difference case', () => {
  const covered = new Set([...adjointCases, ...fdCases].map((c) => key(c.domain, c.op)));
  const missing = registeredRules().filter((r) => !covered.has(key(r.domain, r.opType)));
  assert.deepEqual(
    missing.map((r) => key(r.domain, r.opType)),
    [],
    'rules without an adjoint or finite-difference case',
  );
});

test('every case covers a registered rule', () => {
  const registered = new Set(registeredRules().map((r) => key(r.domain, r.opType)));
  for (const c of [...adjointCases, ...fdCases]) assert.ok(registered.has(key(c.domain, c.op)), `${c.name}: ${key(c.domain, c.op)} has no rule`);
});
