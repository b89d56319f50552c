// Parity presets: for each library, what its own default call returns for each method — the
// parameter values AND the output semantics (absolute values, squares, channel reductions,
// Grad-CAM's ReLU and upsampling) — and how its own visualiser scales the map (docs/methods.md,
// "Parity presets"). Written from the libraries' sources: Captum (captum.attr), PAIR-code
// saliency (saliency.core), Xplique (xplique.attributions, xplique.plots).
import { type BaseMethod, type MethodName, type Preset, type ResolvedParams } from './params.js';

/** How a library's Grad-CAM map reaches the input resolution. */
export type CamUpsample =
  /** Bilinear, half-pixel centres, edges clamped (PyTorch `align_corners=False`): the service's own. */
  | 'bilinear'
  /** `F.interpolate(mode='nearest')`: source index ⌊o·h/H⌋ (Captum's `LayerAttribution.interpolate` default). */
  | 'nearest'
  /** skimage `resize(order=1)`: bilinear, half-pixel centres, mirrored at the edges (PAIR). */
  | 'bilinear-mirror'
  /** `tf.image.resize(method='bicubic')`: Keys a = −0.5, half-pixel centres, taps outside the map dropped and the rest renormalised (Xplique). */
  | 'bicubic';

/** Grad-CAM's layer when none is given: before the global pooling (the service's), or the last Conv's output (Xplique's). */
export type CamLayerDefault = 'pooled' | 'last-conv';

/** What a preset does to a method's output beyond its parameters. */
export interface PresetOutput {
  /** |B| of each sample before averaging (Captum's `Saliency(abs=True)`). */
  absolute?: boolean;
  /** The statistic the library actually takes: PAIR's `magnitude=True` makes SmoothGrad a mean of squares. */
  runAs?: MethodName;
  /** Reduce channels to one (Xplique's `reducer`): the result is [N,1,H,W]. */
  channels?: 'max' | 'mean';
  /** Grad-CAM: how to upsample, and whether to divide by the map's maximum first (PAIR). */
  camUpsample?: CamUpsample;
  camNormalize?: boolean;
  camLayer?: CamLayerDefault;
}

export type PresetSpec =
  { supported: true; call: string; returns: string; params: Partial<ResolvedParams>; output: PresetOutput } | { supported: false; reason: string };

const CAPTUM_IG = { steps: 50, rule: 'gauss-legendre', baseline: 'zeros' } as const;
const PAIR_IG = { steps: 25, rule: 'uniform-inclusive', baseline: 'zeros' } as const;
const XPLIQUE_IG = { steps: 50, rule: 'riemann-trapezoid', baseline: 'zeros' } as const;

const no = (reason: string): PresetSpec => ({ supported: false, reason });
const yes = (call: string, returns: string, params: Partial<ResolvedParams> = {}, output: PresetOutput = {}): PresetSpec => ({
  supported: true,
  call,
  returns,
  params,
  output,
});

function captum(method: MethodName, base: BaseMethod): PresetSpec {
  const inner: Partial<Record<BaseMethod, { call: string; abs: boolean; returns: string }>> = {
    gradient: { call: 'Saliency(model)', abs: true, returns: '|g|' },
    'gradient-x-input': { call: 'InputXGradient(model)', abs: false, returns: '(x+ε) ⊙ g' },
    'integrated-gradients': { call: 'IntegratedGradients(model)', abs: false, returns: 'IG(x+ε) (n_steps 50, gausslegendre, zero baseline)' },
    'guided-backprop': { call: 'GuidedBackprop(model)', abs: false, returns: 'guided gradient' },
  };
  const noisy = (ntType: string, returns: (b: string) => string, extra: Partial<ResolvedParams> = {}) => {
    const b = inner[base];
    if (!b)
      return no(`Captum's NoiseTunnel has no ${base} attribution here to smooth; use base gradient, gradient-x-input, integrated-gradients or guided-backprop`);
    return yes(
      `NoiseTunnel(${b.call}).attribute(nt_type='${ntType}', nt_samples=5, stdevs=1.0)`,
      returns(b.returns),
      { samples: 5, sigma: 1.0, ...(base === 'integrated-gradients' ? CAPTUM_IG : {}), ...extra },
      { absolute: b.abs },
    );
  };
  switch (method) {
    case 'gradient':
      return yes('Saliency(model).attribute(x, target)', '|g| (abs=True)', {}, { absolute: true });
    case 'gradient-x-input':
      return yes('InputXGradient(model).attribute(x, target)', 'x ⊙ g');
    case 'integrated-gradients':
      return yes("IntegratedGradients(model).attribute(x, target) (n_steps=50, method='gausslegendre', zero baseline)", '(x − 0) ⊙ Σ w_k g(α_k x)', CAPTUM_IG);
    case 'smoothgrad':
      return noisy('smoothgrad', (r) => `mean over noisy copies of ${r}`);
    case 'smoothgrad-squared':
      return noisy('smoothgrad_sq', (r) => `mean over noisy copies of (${r})²`);
    case 'vargrad':
      return noisy('vargrad', (r) => `biased variance over noisy copies of ${r}`, { unbiased: false });
    case 'guided-backprop':
      return yes('GuidedBackprop(model).attribute(x, target)', 'guided gradient, signed');
    case 'grad-cam':
      return yes(
        "LayerAttribution.interpolate(LayerGradCam(model, layer).attribute(x, target), (H, W))  (relu_attributions=False, interpolate_mode='nearest')",
        'Σ_k α_k A^k without ReLU, nearest-neighbour upsampled',
        { relu: false },
        { camUpsample: 'nearest' },
      );
    case 'guided-grad-cam':
      return yes(
        "GuidedGradCam(model, layer).attribute(x, target)  (interpolate_mode='nearest')",
        'guided gradient ⊙ nearest-upsampled ReLU(Σ_k α_k A^k)',
        { relu: true },
        { camUpsample: 'nearest' },
      );
    default:
      return no(`Captum has no ${method}`);
  }
}

function pair(method: MethodName, base: BaseMethod): PresetSpec {
  const inner: Partial<Record<BaseMethod, string>> = {
    gradient: 'GradientSaliency',
    'integrated-gradients': 'IntegratedGradients',
    'guided-backprop': 'GuidedBackprop (saliency.tf1)',
  };
  const smoothed = () => {
    const explainer = inner[base];
    if (!explainer) return no(`PAIR saliency has no ${base} explainer to smooth; use base gradient, integrated-gradients or guided-backprop`);
    return yes(
      `${explainer}().GetSmoothedMask(x, …, stdev_spread=0.15, nsamples=25, magnitude=True)`,
      `mean over noisy copies of the squared ${base} (magnitude=True)`,
      { samples: 25, noise: 0.15, sigma: undefined, ...(base === 'integrated-gradients' ? PAIR_IG : {}) },
      { runAs: 'smoothgrad-squared' },
    );
  };
  switch (method) {
    case 'gradient':
      return yes('GradientSaliency().GetMask(x, …)', 'g, signed');
    case 'integrated-gradients':
      return yes('IntegratedGradients().GetMask(x, …, x_steps=25, x_baseline=zeros)', '(x − 0) ⊙ (1/25) Σ_{k=0}^{24} g(k/24 · x)', PAIR_IG);
    case 'smoothgrad':
    case 'smoothgrad-squared':
      return smoothed();
    case 'guided-backprop':
      return yes('saliency.tf1.GuidedBackprop(…).GetMask(x, …)', 'guided gradient, signed');
    case 'grad-cam':
      return yes(
        'GradCam().GetMask(x, …, should_resize=True, three_dims=True)',
        'ReLU(Σ_k α_k A^k) / max, resized by skimage resize (bilinear, mirrored edges); the library tiles it to 3 channels, one is returned',
        { relu: true },
        { camUpsample: 'bilinear-mirror', camNormalize: true },
      );
    case 'gradient-x-input':
      return no('PAIR saliency has no gradient×input explainer');
    default:
      return no(`PAIR saliency has no ${method}`);
  }
}

function xplique(method: MethodName, base: BaseMethod): PresetSpec {
  const stat = (cls: string, returns: string, extra: Partial<ResolvedParams> = {}) =>
    base === 'gradient'
      ? yes(
          `${cls}(model, nb_samples=50, noise=0.2)(x, y)  (reducer='mean')`,
          `${returns}, mean over channels`,
          { samples: 50, sigma: 0.2, ...extra },
          { channels: 'mean' },
        )
      : no(`Xplique's ${cls} smooths the gradient only; use base gradient`);
  switch (method) {
    case 'gradient':
      return yes("Saliency(model)(x, y)  (reducer='max')", 'max over channels of |g|', {}, { absolute: true, channels: 'max' });
    case 'gradient-x-input':
      return yes("GradientInput(model)(x, y)  (reducer='mean')", 'mean over channels of x ⊙ g', {}, { channels: 'mean' });
    case 'integrated-gradients':
      return yes(
        "IntegratedGradients(model, steps=50, baseline_value=0.0)(x, y)  (reducer='mean')",
        'mean over channels of (x − 0) ⊙ the trapezoidal mean of g on 50 points from 0 to 1',
        XPLIQUE_IG,
        { channels: 'mean' },
      );
    case 'smoothgrad':
      return stat('SmoothGrad', 'mean over noisy copies of g');
    case 'smoothgrad-squared':
      return stat('SquareGrad', 'mean over noisy copies of g²');
    case 'vargrad':
      return stat('VarGrad', 'unbiased variance over noisy copies of g', { unbiased: true });
    case 'guided-backprop':
      return yes("GuidedBackprop(model)(x, y)  (reducer='mean')", 'mean over channels of the guided gradient', {}, { channels: 'mean' });
    case 'grad-cam':
      return yes(
        'GradCAM(model)(x, y)  (conv_layer: the last layer with filters)',
        "ReLU(Σ_k α_k A^k) at the output of the model's last Conv unless layer is given, tf.image.resize bicubic to H×W",
        { relu: true },
        { camUpsample: 'bicubic', camLayer: 'last-conv' },
      );
    default:
      return no(`Xplique has no ${method}`);
  }
}

const SPECS: Record<Preset, (method: MethodName, base: BaseMethod) => PresetSpec> = { captum, pair, xplique };

/** What `preset` reproduces for `method` (over `base` for the SmoothGrad family). */
export function presetSpec(preset: Preset, method: MethodName, base: BaseMethod = 'gradient'): PresetSpec {
  return SPECS[preset](method, base);
}

// Renderings of a result computed under a preset default to that library's visualiser: the
// imaging layer's scaling of the same name (src/imaging/scale.ts, render-options.ts).

export class PresetError extends Error {
  override name = 'PresetError';
}
