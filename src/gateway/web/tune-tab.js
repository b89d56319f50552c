// @ts-check
// The Tune tab: a noise × samples sweep of one method and how similar its runs are.
import { getJson, renderingUrl } from './api.js';
import { makeCell, renderCell, runCells } from './cells.js';
import { $, h } from './dom.js';
import { setProgress, showError, UserError } from './feedback.js';
import { linePlot, PALETTE, swatch } from './plot.js';
import { renderQuery } from './renderings.js';
import { cosine, ssim } from './similarity.js';
import { runs, state } from './state.js';
import { firstTarget } from './targets.js';

export function parseList(text, what, integer) {
  const values = text
    .split(/[\s,;]+/)
    .filter(Boolean)
    .map(Number);
  if (values.length === 0 || values.some((v) => !Number.isFinite(v) || v < 0 || (integer && (!Number.isInteger(v) || v < 1)))) {
    throw new UserError(`${what}: enter comma-separated ${integer ? 'whole numbers ≥ 1' : 'numbers ≥ 0'}.`);
  }
  if (values.length > 6) throw new UserError(`${what}: at most 6 values.`);
  return [...new Set(values)].sort((a, b) => a - b);
}

export async function runTune(event) {
  event.preventDefault();
  const run = runs.tune;
  let noises;
  let samples;
  try {
    noises = parseList($('tune-noise').value, 'Noise levels', false);
    samples = parseList($('tune-samples').value, 'Sample counts', true);
    if (!state.file) throw new UserError('Choose an image first: use the file picker, drop an image on the page, or paste one.');
  } catch (err) {
    showError(run.error, err);
    return;
  }
  const signal = run.start();
  const method = $('tune-method').value;
  const cells = noises.flatMap((noise) =>
    samples.map((n) => Object.assign(makeCell(`σ ${noise}, n ${n}`, `${method} heatmap, noise ${noise}, ${n} samples`), { noise, samples: n })),
  );
  state.tune = { cells, noises, samples, method };
  buildSweepTable(method, noises, samples, cells);
  $('tune-plot').replaceChildren();
  const common = { model: $('model').value, target: firstTarget(), method, seed: $('tune-seed').value };
  try {
    const failures = await runCells(run, cells, (cell) => ({ ...common, noise: String(cell.noise), samples: String(cell.samples) }));
    if (signal.aborted) return;
    if (cells.some((c) => c.explanation)) $('render').disabled = false;
    await drawSimilarity();
    setProgress(run.bar, 1, 'finished');
    run.status.textContent = failures ? `Finished; ${failures} of ${cells.length} runs failed.` : `Finished ${cells.length} runs.`;
  } catch (err) {
    showError(run.error, err);
  } finally {
    if (!signal.aborted) run.finish();
  }
}

export function buildSweepTable(method, noises, samples, cells) {
  const table = h(
    'table',
    { class: 'sweep-table' },
    h('caption', {}, `${method}: rows are noise levels σ, columns sample counts n`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'σ \\ n'), ...samples.map((n) => h('th', { scope: 'col' }, String(n))))),
    h(
      'tbody',
      {},
      ...noises.map((noise, r) =>
        h('tr', {}, h('th', { scope: 'row' }, String(noise)), ...samples.map((_, c) => h('td', {}, cells[r * samples.length + c].figure))),
      ),
    ),
  );
  $('tune-grid').replaceChildren(h('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': 'Sweep results' }, table));
}

export async function renderTune() {
  if (state.tune.cells.length === 0) return;
  await Promise.all(state.tune.cells.map(renderCell));
  if (!runs.tune.runButton.disabled) await drawSimilarity();
}

/**
 * Similarity of each run to the run with the most samples at the same noise level, from map.json
 * (the reduced 2-D maps with the current reduce/sign/clip): cosine, and SSIM on maps in [0, 1].
 */
export async function drawSimilarity() {
  const { cells, noises, samples, method } = state.tune;
  // map.json reads reduce, sign and clip; the maps are normalised by their own clip value.
  const { reduce, sign, clip } = renderQuery('map.json');
  const query = { reduce, sign, clip };
  const maps = await Promise.all(cells.map((c) => (c.explanation ? getJson(renderingUrl(c.explanation, 'map.json', query)) : undefined)));
  if (state.tune.cells !== cells) return;
  const series = [];
  const rows = [];
  noises.forEach((noise, r) => {
    const row = cells.map((c, i) => ({ c, map: maps[i] })).filter(({ c }) => c.noise === noise);
    const reference = [...row].reverse().find(({ map }) => map);
    if (!reference) return;
    const colour = PALETTE[r % PALETTE.length];
    const cos = [];
    const ss = [];
    for (const { c, map } of row) {
      if (!map) continue;
      const point = { x: c.samples, cos: cosine(map.values, reference.map.values), ssim: ssim(map, reference.map) };
      cos.push({ x: point.x, y: point.cos });
      ss.push({ x: point.x, y: point.ssim });
      rows.push({ noise, ...point, reference: reference.c.samples });
      c.extra = [`cos ${point.cos.toFixed(3)}`, `SSIM ${point.ssim.toFixed(3)}`];
      if (c.img.src) c.note.textContent = c.note.textContent.replace(/ · cos .*$/, '') + ` · ${c.extra.join(' · ')}`;
    }
    series.push({ label: `σ ${noise} cosine`, colour, marker: 'circle', points: cos });
    series.push({ label: `σ ${noise} SSIM`, colour, dash: '6 4', marker: 'square', points: ss });
  });
  if (series.length === 0) return;
  const maxSamples = Math.max(...samples);
  const svg = linePlot({
    series,
    title: `Similarity to the ${maxSamples}-sample map versus samples`,
    description: `${method}: cosine similarity (solid) and SSIM (dashed) of each map to the map with the most samples at the same noise level.`,
    xLabel: 'samples n',
    yLabel: 'similarity to the largest n',
    logX: samples.length > 1 && samples[0] > 0 && maxSamples / samples[0] >= 4,
  });
  const legend = h('ul', { class: 'legend' }, ...series.map((s) => h('li', {}, swatch(s), ' ', s.label)));
  const table = h(
    'details',
    {},
    h('summary', {}, 'The numbers'),
    h(
      'table',
      { class: 'numbers' },
      h('thead', {}, h('tr', {}, ...['σ', 'n', 'reference n', 'cosine', 'SSIM'].map((t) => h('th', { scope: 'col' }, t)))),
      h(
        'tbody',
        {},
        ...rows.map((r) =>
          h(
            'tr',
            {},
            h('td', {}, String(r.noise)),
            h('td', {}, String(r.x)),
            h('td', {}, String(r.reference)),
            h('td', {}, r.cos.toFixed(4)),
            h('td', {}, r.ssim.toFixed(4)),
          ),
        ),
      ),
    ),
  );
  $('tune-plot').replaceChildren(
    h('h3', {}, 'Convergence'),
    h(
      'p',
      { class: 'help' },
      'How close each map is to the one with the most samples at the same σ (1 = identical). SSIM: Wang et al. 2004, 11×11 gaussian window, σ 1.5, maps scaled to [0, 1].',
    ),
    svg,
    legend,
    table,
  );
}
