// The job contract (src/jobs, which imports nothing) repeats the methods' names: keep them equal.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BASE_NAMES, BASELINE_NAMES, IG_RULE_NAMES, METHOD_NAMES, PRESET_NAMES } from '../../src/jobs/contract.js';
import { BASE_METHODS, BASELINES, METHODS, PRESETS, resolveParams, usedParams } from '../../src/methods/params.js';
import { IG_RULES } from '../../src/methods/quadrature.js';

test('the job contract names the same methods, bases, rules, baselines and presets as the methods', () => {
  assert.deepEqual([...METHOD_NAMES], [...METHODS]);
  assert.deepEqual([...BASE_NAMES], [...BASE_METHODS]);
  assert.deepEqual([...IG_RULE_NAMES], [...IG_RULES]);
  assert.deepEqual([...BASELINE_NAMES], [...BASELINES, 'uploaded']);
  assert.deepEqual([...PRESET_NAMES], [...PRESETS]);
});

test('reports list the parameters a method used, not every default', () => {
  assert.deepEqual(usedParams(resolveParams({ method: 'gradient' }, 1)), { method: 'gradient', seed: 1 });
  assert.deepEqual(usedParams(resolveParams({ method: 'integrated-gradients' }, 1)), {
    method: 'integrated-gradients',
    seed: 1,
    steps: 50,
    rule: 'gauss-legendre',
    baseline: 'zeros',
  });
  assert.deepEqual(usedParams(resolveParams({ method: 'smoothgrad', seed: 4 }, 1)), {
    method: 'smoothgrad',
    seed: 4,
    base: 'gradient',
    samples: 50,
    noise: 0.15,
  });
  const overIg = usedParams(resolveParams({ method: 'smoothgrad', base: 'integrated-gradients', sigma: 0.3 }, 2));
  assert.equal(overIg.steps, 50);
  assert.equal(overIg.sigma, 0.3);
  assert.equal(overIg.noise, undefined, 'an absolute sigma replaces the relative noise');
});
