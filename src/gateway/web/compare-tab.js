// @ts-check
// The Compare tab: several methods on one image.
import { makeCell, renderCell, runCells } from './cells.js';
import { $ } from './dom.js';
import { setProgress, showError, UserError } from './feedback.js';
import { runs, state } from './state.js';
import { firstTarget } from './targets.js';

export async function runCompare(event) {
  event.preventDefault();
  const run = runs.compare;
  const entries = state.compareEntries ?? [];
  const chosen = [...$('compare-methods').querySelectorAll('input:checked')].flatMap((c) =>
    entries.filter((e) => e.key === /** @type {HTMLInputElement} */ (c).value),
  );
  if (chosen.length === 0) {
    showError(run.error, new UserError('Tick at least one method.'));
    return;
  }
  if (!state.file) {
    showError(run.error, new UserError('Choose an image first: use the file picker, drop an image on the page, or paste one.'));
    return;
  }
  const signal = run.start();
  const cells = chosen.map((entry) => Object.assign(makeCell(entry.title, `${entry.title} heatmap`), { entry }));
  state.compare = cells;
  $('compare-grid').replaceChildren(...cells.map((c) => c.figure));
  const common = { model: $('model').value, target: firstTarget() };
  try {
    const failures = await runCells(run, cells, (cell) => ({ ...common, ...cell.entry.fields }));
    if (signal.aborted) return;
    if (cells.some((c) => c.explanation)) $('render').disabled = false;
    setProgress(run.bar, 1, 'finished');
    run.status.textContent = failures ? `Finished; ${failures} of ${cells.length} failed (see the cells).` : `Finished ${cells.length} methods.`;
  } finally {
    if (!signal.aborted) run.finish();
  }
}

export async function renderCompare() {
  await Promise.all(state.compare.map(renderCell));
}
