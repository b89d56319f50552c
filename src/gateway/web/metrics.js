// @ts-check
// Quality metrics (`metrics=` on a job, listed by GET /v1/methods): the checkboxes, and the
// values a completed job reports, with pixel flipping's MoRF and LeRF curves drawn as a plot.
import { $, fmt, h } from './dom.js';
import { linePlot, PALETTE, swatch } from './plot.js';
import { className } from './targets.js';

/** What each reported value means, and which way is better (the definitions Quantus uses). */
const MEANINGS = {
  sparseness: 'Gini index of |map|: 1 when one pixel holds all the relevance, 0 when it is spread evenly',
  complexity: 'entropy of |map| as a distribution (natural log): lower is a simpler map',
  srg: 'symmetric relevance gain, the mean of LeRF − MoRF over the steps: higher means the map ranks pixels the model needs first',
  randomLogit: 'SSIM between this map and the map of a random other class: lower means the map depends on the class',
};

export function setupMetrics(catalogue) {
  const values = catalogue.metrics?.values ?? [];
  $('metrics').hidden = values.length === 0;
  $('metrics-fields').replaceChildren(
    ...values.map((m) =>
      h(
        'div',
        { class: 'field' },
        h('label', { class: 'check' }, h('input', { type: 'checkbox', value: m.name, 'aria-describedby': `metric-${m.name}-help` }), ' ', m.name),
        h('p', { class: 'help', id: `metric-${m.name}-help` }, `cost: ${m.cost}`),
      ),
    ),
  );
  $('metrics-fields').addEventListener('change', () => {
    $('flip-fields').hidden = !chosen().includes('pixel-flipping');
  });
}

const chosen = () => [...$('metrics-fields').querySelectorAll('input:checked')].map((c) => /** @type {HTMLInputElement} */ (c).value);

/**
 * The job's metric fields: `metrics`, and pixel flipping's `flip_steps` and `imputation` when it is on.
 * @returns {Record<string, string>}
 */
export function metricFields() {
  const names = chosen();
  if (names.length === 0) return {};
  const flipping = names.includes('pixel-flipping');
  return {
    metrics: names.join(','),
    flip_steps: flipping ? $('flip-steps').value.trim() : '',
    imputation: flipping ? $('flip-imputation').value : '',
  };
}

/**
 * The metrics of a completed job, or nothing when it asked for none. A job of several classes has
 * a set per class (`targets[k].metrics`): a picker chooses which one is shown, the first at start.
 */
export function showMetrics(e, k = 0) {
  const perClass = (e.targets ?? []).filter((t) => t.metrics);
  const m = perClass[k]?.metrics ?? e.metrics;
  $('explain-metrics').hidden = !m;
  if (!m) return;
  const target = perClass[k]?.index ?? e.targets?.[0]?.index ?? e.prediction?.target;
  const picker = $('metrics-class');
  picker.hidden = perClass.length < 2;
  picker.replaceChildren(...perClass.map((t, i) => h('option', { value: String(i), selected: i === k }, className(t.index))));
  picker.onchange = () => showMetrics(e, Number(picker.value));
  $('explain-metrics-for').textContent = `Of the map for ${className(target)}${perClass.length > 1 ? '; pick another class:' : '.'}`;
  const flip = m.pixelFlipping;
  const rows = [
    ['sparseness', m.sparseness, MEANINGS.sparseness],
    ['complexity', m.complexity, MEANINGS.complexity],
    ['SRG (pixel flipping)', flip?.srg, MEANINGS.srg],
    [m.randomLogit ? `random-logit SSIM (vs ${className(m.randomLogit.class)})` : '', m.randomLogit?.ssim, MEANINGS.randomLogit],
  ].filter(([, value]) => value !== undefined);
  $('explain-metrics-values').replaceChildren(
    ...rows.flatMap(([name, value, meaning]) => [
      h('dt', {}, name),
      h('dd', { dataset: { value: String(value) } }, h('strong', {}, fmt(Number(value))), ' ', h('span', { class: 'help' }, meaning)),
    ]),
  );
  $('flip-plot').replaceChildren(...(flip ? flippingPlot(flip, className(target)) : []));
}

/** MoRF and LeRF: the target's probability against the fraction of pixels flipped. */
function flippingPlot(flip, name) {
  const curve = (values) => values.map((y, i) => ({ x: i / flip.steps, y }));
  const series = [
    { label: 'MoRF: most relevant pixels first', colour: PALETTE[1], marker: 'circle', points: curve(flip.morf) },
    { label: 'LeRF: least relevant pixels first', colour: PALETTE[0], dash: '6 4', marker: 'square', points: curve(flip.lerf) },
  ];
  const svg = linePlot({
    series,
    id: 'flip-plot',
    title: `Pixel flipping for ${name}: probability versus pixels flipped`,
    description: `The probability of ${name} as pixels are replaced (${flip.imputation}) in ${flip.steps} steps, most relevant first (MoRF, solid) and least relevant first (LeRF, dashed). SRG ${fmt(flip.srg)}.`,
    xLabel: 'fraction of pixels flipped',
    yLabel: `probability of ${name}`,
    xTicks: [0, 0.25, 0.5, 0.75, 1],
    yRange: [0, 1],
  });
  return [
    h('h4', {}, `Pixel flipping: SRG ${fmt(flip.srg)}`),
    h(
      'p',
      { class: 'help' },
      `Pixels replaced by ${flip.imputation} in ${flip.steps} steps. A faithful map makes MoRF fall fast and LeRF stay high; SRG is the mean gap between them.`,
    ),
    svg,
    h('ul', { class: 'legend' }, ...series.map((s) => h('li', {}, swatch(s), ' ', s.label))),
  ];
}
