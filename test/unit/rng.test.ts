// The noise generator: seeded, deterministic, and normal where it counts (the ziggurat's layers,
// wedges and tail all draw on the same tables, so moments and tail masses test all three).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/methods/rng.js';

/** P(|Z| > t) for a standard normal: erfc(t/√2). */
const TWO_SIDED_TAIL: Record<number, number> = { 1: 0.3173105, 2: 0.0455003, 3: 0.0026998, 4: 6.3342e-5 };

test('fillNormal: mean 0, variance σ², kurtosis 3 and normal tail masses over 2M draws', () => {
  const n = 2_000_000;
  const sigma = 0.25;
  const values = new Rng(20251123).fillNormal(new Float32Array(n), sigma);
  let sum = 0;
  let squares = 0;
  let fourth = 0;
  const beyond: Record<number, number> = { 1: 0, 2: 0, 3: 0, 4: 0 };
  for (const v of values) {
    const z = v / sigma;
    sum += z;
    squares += z * z;
    fourth += z ** 4;
    for (const t of [1, 2, 3, 4]) if (Math.abs(z) > t) beyond[t] = (beyond[t] as number) + 1;
  }
  assert.ok(Math.abs(sum / n) < 0.004, `mean ${sum / n}`);
  assert.ok(Math.abs(squares / n - 1) < 0.005, `variance ${squares / n}`);
  assert.ok(Math.abs(fourth / n - 3) < 0.05, `kurtosis ${fourth / n}`);
  for (const t of [1, 2, 3, 4]) {
    const expected = TWO_SIDED_TAIL[t] as number;
    const observed = (beyond[t] as number) / n;
    // Five binomial standard errors.
    const tolerance = 5 * Math.sqrt((expected * (1 - expected)) / n);
    assert.ok(Math.abs(observed - expected) < tolerance, `P(|z| > ${t}) = ${observed}, expected ${expected} ± ${tolerance}`);
  }
});

test('fillNormal: the same seed gives the same values, in one call or in pieces; other seeds differ', () => {
  const whole = new Rng(7).fillNormal(new Float32Array(10_000), 1);
  const rng = new Rng(7);
  const pieces = [...rng.fillNormal(new Float32Array(3_333), 1), ...rng.fillNormal(new Float32Array(6_667), 1)];
  assert.deepEqual(Array.from(whole), pieces);
  const other = new Rng(8).fillNormal(new Float32Array(10_000), 1);
  assert.notDeepEqual(Array.from(whole), Array.from(other));
});
