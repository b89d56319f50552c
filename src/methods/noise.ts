// The noise of the noisy methods (SmoothGrad family, SmoothDiff): one seeded stream per image, σ
// per image, and the check of an explicit noise block. Each image's stream depends only on the
// seed and the image's index, so how the samples are cut into runs (memory budget, adaptive
// stopping) never changes the noise a sample gets.
import { valueRange } from './baselines.js';
import { Rng } from './rng.js';
import { type Tensor } from './runner.js';

/** The noise stream of image `image` of a request seeded with `seed`. */
export function imageRng(seed: number, image: number): Rng {
  return new Rng((seed ^ Math.imul(image + 1, 0x9e3779b1)) >>> 0);
}

/**
 * The noise streams of a batch, one per image; for one image repeated once per target (several
 * targets), image 0's stream for every copy, so each class gets the noise its one-target job gets.
 */
export function imageRngs(seed: number, images: number, repeated = false): Rng[] {
  return Array.from({ length: images }, (_, b) => imageRng(seed, repeated ? 0 : b));
}

/** σ per image: `sigma` when given (absolute), else `noise` × the image's value range. */
export function imageSigmas(x: Tensor, params: { sigma: number | undefined; noise: number }): number[] {
  const B = x.dims[0] as number;
  const size = x.data.length / B;
  return Array.from({ length: B }, (_, b) => {
    if (params.sigma !== undefined) return params.sigma;
    const [lo, hi] = valueRange(x.data.subarray(b * size, (b + 1) * size));
    return params.noise * (hi - lo);
  });
}

/** An explicit noise block must be [B, samples, …sample]. */
export function checkNoise(noise: Float32Array | undefined, images: number, samples: number, sampleShape: readonly number[]): void {
  const size = sampleShape.reduce((a, b) => a * b, 1);
  if (noise && noise.length !== images * samples * size) {
    throw new RangeError(`explicit noise must have shape [${images},${samples},${sampleShape.join(',')}]`);
  }
}

/** `count` samples of image `b` from `s0` on: from the explicit block, or drawn from the image's stream. */
export function noiseSlice(
  explicit: Float32Array | undefined,
  samples: number,
  size: number,
  b: number,
  s0: number,
  count: number,
  draw: () => Float32Array,
): Float32Array {
  if (explicit) return explicit.subarray((b * samples + s0) * size, (b * samples + s0 + count) * size);
  return draw();
}
