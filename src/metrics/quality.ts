// Explanation-quality scores of one map: pure functions on float arrays (no runtime, no model).
// Definitions as Quantus computes them, so dashboards compare with the literature:
//   sparseness  Gini index of a = |map| + 1e-7 sorted ascending: Σ_i (2i − n − 1)·a_i / (n·Σ a_i)
//   complexity  entropy of |a| / Σ|a| (natural log)
//   ssim        structural similarity of two maps (7×7 uniform windows, sample covariance,
//               K1 = 0.01, K2 = 0.03, each map scaled to [0, 1] by its largest |value|): the
//               random-logit check's similarity

/**
 * One attribution [C, H, W] as a 2-D magnitude map [H, W], reduced as the rendering does:
 * sensitivity maps by the L2 norm over channels, signed attributions by the channel sum, then |·|.
 */
export function magnitudeMap(a: Float32Array, channels: number, kind: 'sensitivity' | 'attribution'): Float64Array {
  const plane = a.length / channels;
  const out = new Float64Array(plane);
  for (let i = 0; i < plane; i++) {
    let acc = 0;
    for (let c = 0; c < channels; c++) {
      const v = a[c * plane + i] as number;
      acc += kind === 'sensitivity' ? v * v : v;
    }
    out[i] = kind === 'sensitivity' ? Math.sqrt(acc) : Math.abs(acc);
  }
  return out;
}

/** Per pixel, the L2 norm over channels (pixel flipping's ranking). */
export function pixelNorms(a: Float32Array, channels: number): Float64Array {
  return magnitudeMap(a, channels, 'sensitivity');
}

export function sparseness(map: ArrayLike<number>): number {
  const a = Float64Array.from(map, (v) => Math.abs(v) + 1e-7).sort();
  const n = a.length;
  let weighted = 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    weighted += (2 * (i + 1) - n - 1) * (a[i] as number);
    total += a[i] as number;
  }
  return weighted / (n * total);
}

export function complexity(map: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < map.length; i++) total += Math.abs(map[i] as number);
  if (total === 0) return 0;
  let entropy = 0;
  for (let i = 0; i < map.length; i++) {
    const p = Math.abs(map[i] as number) / total;
    if (p > 0) entropy -= p * Math.log(p);
  }
  return entropy;
}

const WINDOW = 7;

/** SSIM of two [H, W] maps, each scaled by its own largest |value| (a zero map stays zero). */
export function ssim(a: ArrayLike<number>, b: ArrayLike<number>, h: number, w: number): number {
  const scaled = (m: ArrayLike<number>) => {
    let peak = 0;
    for (let i = 0; i < m.length; i++) peak = Math.max(peak, Math.abs(m[i] as number));
    return Float64Array.from(m as ArrayLike<number>, (v) => (peak > 0 ? Math.abs(v) / peak : 0));
  };
  const x = scaled(a);
  const y = scaled(b);
  const win = Math.min(WINDOW, h, w);
  const n = win * win;
  const c1 = 0.01 ** 2;
  const c2 = 0.03 ** 2;
  const cov = n / (n - 1);
  let total = 0;
  let windows = 0;
  for (let r = 0; r + win <= h; r++) {
    for (let c = 0; c + win <= w; c++) {
      let sx = 0;
      let sy = 0;
      let sxx = 0;
      let syy = 0;
      let sxy = 0;
      for (let i = 0; i < win; i++) {
        for (let j = 0; j < win; j++) {
          const u = x[(r + i) * w + c + j] as number;
          const v = y[(r + i) * w + c + j] as number;
          sx += u;
          sy += v;
          sxx += u * u;
          syy += v * v;
          sxy += u * v;
        }
      }
      const mx = sx / n;
      const my = sy / n;
      const vx = cov * (sxx / n - mx * mx);
      const vy = cov * (syy / n - my * my);
      const vxy = cov * (sxy / n - mx * my);
      total += ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
      windows++;
    }
  }
  return total / windows;
}

/**
 * Pixel-flipping order: pixel indices by descending score (most relevant first); ties keep the
 * raster order, so the order is deterministic. LeRF is this order reversed.
 */
export function relevanceOrder(scores: ArrayLike<number>): Uint32Array {
  const order = Uint32Array.from({ length: scores.length }, (_, i) => i);
  return order.sort((i, j) => (scores[j] as number) - (scores[i] as number) || i - j);
}

/** How many pixels are flipped after step s of `steps` (step 0 = none, step `steps` = all). */
export function flippedAfter(step: number, steps: number, pixels: number): number {
  return Math.round((step * pixels) / steps);
}

/** Symmetric relevance gain: the mean over steps 1..S of LeRF − MoRF. */
export function srg(morf: readonly number[], lerf: readonly number[]): number {
  let total = 0;
  for (let s = 1; s < morf.length; s++) total += (lerf[s] as number) - (morf[s] as number);
  return total / (morf.length - 1);
}
