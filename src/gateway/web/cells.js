// @ts-check
// Result cells of the Compare and Tune grids (one job per cell) and of a multi-class Explain job
// (one class per cell), each with its own colour bar.
import { renderingUrl } from './api.js';
import { drawColourBar } from './colormaps.js';
import { $, fmt, h } from './dom.js';
import { pool, setProgress } from './feedback.js';
import { effectiveRender, renderQuery, showRendering } from './renderings.js';

/** One result cell: title, image, its colour bar, a note; `explanation` once its job completed. */
export function makeCell(title, alt) {
  const img = h('img', { alt, class: 'cell-img' });
  const bar = h('canvas', { class: 'cell-bar', width: 128, height: 8, role: 'img' });
  const ticks = h('div', { class: 'ticks', 'aria-hidden': 'true' });
  const legend = h('div', { class: 'colourbar cell-legend', hidden: true }, bar, ticks);
  const note = h('p', { class: 'note' }, 'queued');
  const figure = h('figure', { class: 'cell' }, h('figcaption', {}, title), h('div', { class: 'cell-frame' }, img), legend, note);
  return { title, img, bar, ticks, legend, note, figure, explanation: undefined, fraction: 0 };
}

export async function renderCell(cell) {
  if (!cell.explanation) return;
  const kind = $('r-grid').value;
  const attributionKind = cell.explanation.attribution?.kind ?? 'sensitivity';
  // A cell of a multi-class job shows its own class's map.
  const query = { ...renderQuery(kind, attributionKind), ...(cell.target !== undefined ? { target: String(cell.target) } : {}) };
  const rendering = await showRendering(cell.img, renderingUrl(cell.explanation, kind, query));
  if (!rendering) return;
  // Each cell is scaled on its own: its bar carries its own numbers.
  const r = effectiveRender(attributionKind);
  const s = rendering.scale ?? NaN;
  const ticks = r.centred ? [-s, 0, s] : [0, s / 2, s];
  drawColourBar(cell.bar, r.colormap);
  cell.bar.setAttribute('aria-label', `Colour bar, ${r.colormap}: ${fmt(ticks[0])} to ${fmt(ticks[2])}`);
  cell.ticks.replaceChildren(...ticks.map((t) => h('span', {}, fmt(t))));
  cell.legend.hidden = false;
  cell.note.textContent = [`${r.colormap}`, `scale ${fmt(s)}`, `${cell.explanation.timings.computeMs ?? '?'} ms`, ...(cell.extra ?? [])].join(' · ');
}

export function overallProgress(run, cells) {
  const fraction = cells.reduce((s, c) => s + c.fraction, 0) / Math.max(cells.length, 1);
  const finished = cells.filter((c) => c.fraction >= 1 || c.failed).length;
  setProgress(run.bar, fraction, `${finished} of ${cells.length} jobs finished`);
  run.status.textContent = `${finished} of ${cells.length} jobs finished…`;
}

/** Runs one job per cell (three at a time), rendering each cell as its job completes. */
export async function runCells(run, cells, fieldsOf) {
  let failures = 0;
  await pool(cells, 3, async (cell, i) => {
    if (run.cancelled) return;
    cell.note.textContent = 'submitting…';
    try {
      cell.explanation = await run.job(fieldsOf(cell, i), (fraction, text) => {
        cell.fraction = fraction;
        cell.note.textContent = text === 'done' ? 'rendering…' : text;
        overallProgress(run, cells);
      });
      await renderCell(cell);
    } catch (err) {
      if (run.cancelled) return;
      failures++;
      cell.failed = true;
      const e = /** @type {{ code?: string, message?: string }} */ (err);
      cell.note.replaceChildren(h('strong', { class: 'code' }, e.code ?? 'ERROR'), ' ', e.message ?? String(err));
      cell.figure.classList.add('failed');
      overallProgress(run, cells);
    }
  });
  return failures;
}
