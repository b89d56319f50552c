// @ts-check
// The Explain tab: one job, its heatmap and overlay (and one map per class when it explains
// several), the colour bar, its quality metrics, downloads, a curl example.
import { getApiKey, renderingUrl, request } from './api.js';
import { makeCell, renderCell } from './cells.js';
import { drawColourBar } from './colormaps.js';
import { $, canvas, fmt, h, percent } from './dom.js';
import { clearError, setProgress, showError } from './feedback.js';
import { paramValues } from './method-form.js';
import { metricFields, showMetrics } from './metrics.js';
import { effectiveRender, renderQuery, showRendering } from './renderings.js';
import { runs, state } from './state.js';
import { chooseTarget, className, targetFields } from './targets.js';

export async function runExplain(event) {
  event?.preventDefault();
  const run = runs.explain;
  let fields;
  try {
    fields = { model: $('model').value, method: $('method').value, ...targetFields(), ...paramValues(), ...metricFields() };
  } catch (err) {
    showError(run.error, err);
    return;
  }
  const signal = run.start();
  run.status.textContent = 'Uploading…';
  const fileUrl = state.fileUrl;
  try {
    const explanation = await run.job(fields, (fraction, text) => {
      setProgress(run.bar, fraction, text);
      run.status.textContent = { queued: 'Queued…', running: 'Running…', done: 'Rendering…' }[text] ?? `Running: ${text}`;
    });
    if (signal.aborted) return;
    state.explain = { explanation, fields, fileUrl, cells: targetCells(explanation) };
    $('img-original').src = fileUrl ?? '';
    showExplanation(explanation);
    await renderExplain();
    $('render').disabled = false;
    run.status.textContent = `Done: ${explanation.method} in ${explanation.timings.computeMs ?? '?'} ms.`;
  } catch (err) {
    if (!signal.aborted) {
      run.status.textContent = 'Failed.';
      showError(run.error, err);
    }
  } finally {
    if (!signal.aborted) run.finish();
  }
}

/** A multi-class job: one cell per class, rendered with `?target=`; none for a single class. */
export function targetCells(e) {
  const targets = e.targets ?? [];
  if (targets.length < 2) return [];
  return targets.map((t) => {
    const name = t.label ?? className(t.index);
    return Object.assign(makeCell(`${name} (${t.index})`, `${e.method} heatmap for ${name}`), { explanation: e, target: t.index, extra: [percent(t.score)] });
  });
}

export function showExplanation(e) {
  $('explain-result').hidden = false;
  const p = e.prediction;
  const labelOf = (c) => (c.label ? `${c.label}` : `class ${c.index}`);
  const explained = (e.targets ?? [{ index: p.target, label: p.label, score: p.score }]).map((t) => ({ ...t, name: t.label ?? className(t.index) }));
  const indices = new Set(explained.map((t) => t.index));
  $('top5').replaceChildren(
    h('h3', { id: 'top5-title' }, 'Top-5 predictions'),
    h('p', { class: 'help' }, 'Choose a class to explain it instead.'),
    h(
      'ol',
      { 'aria-labelledby': 'top5-title' },
      ...p.top5.map((c) =>
        h(
          'li',
          {},
          h(
            'button',
            {
              type: 'button',
              class: 'class-button',
              'aria-pressed': String(indices.has(c.index)),
              onclick: () => {
                chooseTarget(c.index, c.label);
                void runExplain();
              },
            },
            h('span', { class: 'name' }, labelOf(c)),
            h('span', { class: 'score' }, percent(c.score)),
            h('span', { class: 'bar', 'aria-hidden': 'true' }, h('span', { class: 'fill', dataset: { w: c.score } })),
          ),
        ),
      ),
    ),
  );
  for (const fill of $('top5').querySelectorAll('.fill')) if (fill instanceof HTMLElement) fill.style.width = `${Math.round(Number(fill.dataset.w) * 100)}%`;
  const a = e.attribution;
  $('explain-meta').textContent = [
    `Explained: ${explained.map((t) => `${t.name} (index ${t.index}, score ${percent(t.score)})`).join(', ')}`,
    `${e.method}${e.params.base && e.params.base !== 'gradient' ? ` over ${e.params.base}` : ''}, seed ${e.params.seed ?? '–'}`,
    `computed in ${e.timings.computeMs ?? '?'} ms`,
    a?.completenessGap !== undefined ? `completeness gap ${fmt(a.completenessGap)}` : undefined,
    a?.layer ? `layer ${a.layer}` : undefined,
  ]
    .filter(Boolean)
    .join(' · ');
  // The large figures show the first class; a multi-class job adds a grid with every class.
  const first = explained.length > 1 ? `: ${explained[0].name}` : '';
  $('cap-heatmap').textContent = `Heatmap${first}`;
  $('cap-overlay').textContent = `Overlay${first}`;
  const cells = state.explain?.cells ?? [];
  $('explain-targets').hidden = cells.length === 0;
  $('explain-targets-grid').replaceChildren(...cells.map((c) => c.figure));
  showMetrics(e);
  $('curl').textContent = curlExample(e);
}

export async function renderExplain() {
  const e = state.explain?.explanation;
  if (!e) return;
  const kind = e.attribution?.kind ?? 'sensitivity';
  const heatUrl = renderingUrl(e, 'heatmap.png', renderQuery('heatmap.png', kind));
  const overlayUrl = renderingUrl(e, 'overlay.png', renderQuery('overlay.png', kind));
  const [heat] = await Promise.all([
    showRendering($('img-heatmap'), heatUrl),
    showRendering($('img-overlay'), overlayUrl),
    ...(state.explain?.cells ?? []).map(renderCell),
  ]);
  clearError($('explain-error'));
  if (heat) drawLegend(e, heat);
  const short = e.id.slice(0, 8);
  const links = [
    ['Heatmap PNG', heatUrl, `${e.method}-${short}-heatmap.png`],
    ['Overlay PNG', overlayUrl, `${e.method}-${short}-overlay.png`],
    ['Attribution .npy', renderingUrl(e, 'attribution.npy'), `${e.method}-${short}.npy`],
    ['Map JSON', renderingUrl(e, 'map.json', renderQuery('map.json', kind)), `${e.method}-${short}-map.json`],
  ];
  $('downloads').replaceChildren(
    'Download: ',
    ...links.flatMap(([text, href, name], i) => [i ? ' · ' : '', h('a', { href, download: name, onclick: downloadWithKey }, text)]),
  );
}

/** Colour bar from the colormap's anchors; the numbers are the scale the server reported. */
export function drawLegend(e, rendering) {
  const r = effectiveRender(e.attribution?.kind ?? 'sensitivity');
  drawColourBar(canvas('colourbar-canvas'), r.colormap);
  const s = rendering.scale;
  const ticks = r.centred ? [-s, 0, s] : [0, s / 2, s];
  $('colourbar-ticks').replaceChildren(...ticks.map((t) => h('span', {}, fmt(t))));
  const what = r.signed ? 'signed attribution' : r.sign === 'negative' ? 'negative part' : r.sign === 'positive' ? 'positive part' : 'magnitude';
  const scaleText = $('r-scale').value.trim() ? `fixed scale ${fmt(s)}` : `scale ${fmt(s)} (the ${$('r-clip').value}th percentile of |map|)`;
  $('colourbar-canvas').setAttribute('aria-label', `Colour bar, ${r.colormap}: ${fmt(ticks[0])} to ${fmt(ticks[2])}`);
  $('colourbar-text').textContent =
    `${r.colormap}, ${what} (reduce ${r.reduce}, sign ${r.sign}); ${scaleText}; ${r.signed ? `values beyond ±${fmt(rendering.clip)}` : `values above ${fmt(rendering.clip)}`} saturate.`;
}

export function curlExample(e) {
  const origin = location.origin;
  const auth = getApiKey() ? ` -H "Authorization: Bearer $SALIENCY_API_KEY"` : '';
  const fields = Object.entries(state.explain?.fields ?? {}).filter(([, v]) => v !== '' && v !== undefined);
  const form = fields.map(([k, v]) => ` -F ${k}=${/^[\w.,+-]+$/.test(v) ? v : `'${v}'`}`).join('');
  const heat = renderingUrl(e, 'heatmap.png', renderQuery('heatmap.png', e.attribution?.kind ?? 'sensitivity'));
  return [
    `# submit and wait up to 30 s (answers the explanation, with its links)`,
    `curl${auth} -F image=@${state.file?.name?.replace(/[^\w.+-]/g, '_') || 'photo.png'}${form} '${origin}/v1/explanations?wait=30'`,
    `# or submit without ?wait and follow the progress events: curl${auth} -N ${origin}${e.links.events}`,
    `curl${auth} -o heatmap.png '${origin}${heat}'`,
  ].join('\n');
}

/** Download links are plain API URLs; with an API key the file is fetched with the header instead. */
export async function downloadWithKey(event) {
  if (!getApiKey()) return;
  event.preventDefault();
  const link = event.currentTarget;
  try {
    const blob = await (await request(link.getAttribute('href'))).blob();
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: link.download });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    showError($('explain-error'), err);
  }
}
