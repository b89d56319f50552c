/** Per-sample cosine and relative L2 error of `actual` against `expected` (flat, batch-major). */
export function perSample(actual: Float32Array, expected: Float32Array, batch: number): { cosine: number; relErr: number }[] {
  const n = expected.length / batch;
  return Array.from({ length: batch }, (_, s) => {
    let dot = 0;
    let aa = 0;
    let ee = 0;
    let diff = 0;
    for (let k = s * n; k < (s + 1) * n; k++) {
      const a = actual[k] as number;
      const e = expected[k] as number;
      dot += a * e;
      aa += a * a;
      ee += e * e;
      diff += (a - e) ** 2;
    }
    return { cosine: dot / Math.sqrt(aa * ee), relErr: Math.sqrt(diff / ee) };
  });
}
