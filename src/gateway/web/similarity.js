// @ts-check
// Similarity of two saliency maps (map.json `values`: rows of the reduced 2-D map), computed in
// the browser for the Tune view's convergence plot.

const flat = (rows) => Float64Array.from(rows.flat());

/** Cosine similarity of the maps as vectors; 1 for two all-zero maps. */
export function cosine(a, b) {
  const x = flat(a);
  const y = flat(b);
  let xy = 0;
  let xx = 0;
  let yy = 0;
  for (let i = 0; i < x.length; i++) {
    xy += x[i] * y[i];
    xx += x[i] * x[i];
    yy += y[i] * y[i];
  }
  if (xx === 0 && yy === 0) return 1;
  return xx === 0 || yy === 0 ? 0 : xy / Math.sqrt(xx * yy);
}

/**
 * A map.json map to [0, 1]: divided by its own clip value, so the result does not depend on the
 * rendering scale; signed maps put zero at 0.5, as their colormaps do.
 */
export function normalise(map) {
  const { width, height, values, clipValue, signed } = map;
  const out = new Float64Array(width * height);
  if (!(clipValue > 0)) return { data: signed ? out.fill(0.5) : out, width, height };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = Math.min(Math.max(values[y][x] / clipValue, signed ? -1 : 0), 1);
      out[y * width + x] = signed ? (v + 1) / 2 : v;
    }
  }
  return { data: out, width, height };
}

function gaussian(size, sigma) {
  const half = (size - 1) / 2;
  const w = Array.from({ length: size }, (_, i) => Math.exp(-((i - half) ** 2) / (2 * sigma * sigma)));
  const sum = w.reduce((s, v) => s + v, 0);
  return w.map((v) => v / sum);
}

/** 2-D correlation with the separable window `w`, 'valid' part only (MATLAB's filter2(…, 'valid')). */
function filterValid(data, width, height, w) {
  const n = w.length;
  const ow = width - n + 1;
  const oh = height - n + 1;
  const rows = new Float64Array(ow * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += w[k] * data[y * width + x + k];
      rows[y * ow + x] = s;
    }
  }
  const out = new Float64Array(ow * oh);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += w[k] * rows[(y + k) * ow + x];
      out[y * ow + x] = s;
    }
  }
  return out;
}

/**
 * Mean SSIM (Wang, Bovik, Sheikh & Simoncelli, IEEE TIP 13(4), 2004; their reference
 * ssim_index.m): 11×11 gaussian window with σ = 1.5, K1 = 0.01, K2 = 0.03, dynamic range L = 1 on
 * maps normalised to [0, 1], averaged over the 'valid' window positions. Maps smaller than 11
 * pixels on a side use the largest odd window that fits.
 */
export function ssim(mapA, mapB) {
  const a = normalise(mapA);
  const b = normalise(mapB);
  if (a.width !== b.width || a.height !== b.height) throw new RangeError('SSIM needs maps of the same size');
  const { width, height } = a;
  let size = Math.min(11, width, height);
  if (size % 2 === 0) size -= 1;
  const w = gaussian(size, 1.5);
  const C1 = (0.01 * 1) ** 2;
  const C2 = (0.03 * 1) ** 2;
  const product = (p, q) => p.map((v, i) => v * q[i]);
  const muA = filterValid(a.data, width, height, w);
  const muB = filterValid(b.data, width, height, w);
  const aa = filterValid(product(a.data, a.data), width, height, w);
  const bb = filterValid(product(b.data, b.data), width, height, w);
  const ab = filterValid(product(a.data, b.data), width, height, w);
  let sum = 0;
  for (let i = 0; i < muA.length; i++) {
    const ma = muA[i];
    const mb = muB[i];
    const va = aa[i] - ma * ma;
    const vb = bb[i] - mb * mb;
    const cov = ab[i] - ma * mb;
    sum += ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
  }
  return sum / muA.length;
}
