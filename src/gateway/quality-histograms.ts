// Prometheus histograms of the explanation-quality metrics, per model and method, so a dashboard
// can watch explanations drift over time. Observed when a job that asked for metrics completes,
// once per class it explained.
import { Histogram, type Registry } from 'prom-client';
import { type JobResult, type QualityMetrics } from '../jobs/contract.js';

const UNIT = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1];
const labelNames = ['model', 'method'] as const;

export function qualityHistograms(register: Registry) {
  const histogram = (name: string, help: string, buckets: number[]) => new Histogram({ name, help, labelNames, buckets, registers: [register] });
  return {
    sparseness: histogram('saliency_explanation_sparseness', 'Gini index of the explanation map (metrics=sparseness)', UNIT),
    complexity: histogram(
      'saliency_explanation_complexity',
      'Entropy of the normalised explanation map, nats (metrics=complexity)',
      [1, 2, 4, 6, 8, 9, 10, 11, 12, 13, 14],
    ),
    srg: histogram(
      'saliency_explanation_srg',
      'Symmetric relevance gain of pixel flipping, LeRF − MoRF (metrics=pixel-flipping)',
      [-0.5, -0.2, -0.1, -0.05, 0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1],
    ),
    randomLogit: histogram('saliency_explanation_random_logit_ssim', 'SSIM of the map and a random other class’s map (metrics=random-logit)', UNIT),
  };
}
export type QualityHistograms = ReturnType<typeof qualityHistograms>;

/** One observation per explained class: each map of a several-target job, else the job's one map. */
export function observeQuality(h: QualityHistograms, labels: { model: string; method: string }, result: Pick<JobResult, 'metrics' | 'targets'>): void {
  const perClass = result.targets ? result.targets.map((t) => t.metrics) : [result.metrics];
  for (const m of perClass) if (m) observe(h, labels, m);
}

function observe(h: QualityHistograms, labels: { model: string; method: string }, m: QualityMetrics): void {
  if (m.sparseness !== undefined) h.sparseness.observe(labels, m.sparseness);
  if (m.complexity !== undefined) h.complexity.observe(labels, m.complexity);
  if (m.pixelFlipping) h.srg.observe(labels, m.pixelFlipping.srg);
  if (m.randomLogit) h.randomLogit.observe(labels, m.randomLogit.ssim);
}
