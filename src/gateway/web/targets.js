// @ts-check
// The classes to explain: the predicted one, chosen ones (one job with a map per class, sent as
// `targets`), or the top k (`targets=top-k`). Classes are sent as indices: labels may hold commas.
import { $, h } from './dom.js';
import { UserError } from './feedback.js';
import { state } from './state.js';

/** The multi-select of classes. */
const classSelect = () => /** @type {HTMLSelectElement} */ (/** @type {unknown} */ ($('target')));

/** A class as the page names it: its label when the model has labels. */
export function className(index) {
  const label = state.model?.labels?.[index];
  return label ? `${label}` : `class ${index}`;
}

const optionText = (index, label) => (label ? `${index}: ${label}` : `class ${index}`);

export function setupTargets() {
  $('target-mode').addEventListener('change', showTargetMode);
  $('target-filter').addEventListener('input', filterClasses);
  showTargetMode();
}

/** Shows only the classes whose "index: label" holds the filter text (chosen ones stay chosen). */
function filterClasses() {
  const text = $('target-filter').value.trim().toLowerCase();
  for (const option of classSelect().options) option.hidden = text !== '' && !option.text.toLowerCase().includes(text);
}

/** The model's classes as options (from its labels, else its class count). */
export function fillClasses(model) {
  const count = model.labels?.length ?? model.classes ?? 0;
  classSelect().replaceChildren(...Array.from({ length: count }, (_, i) => h('option', { value: String(i) }, optionText(i, model.labels?.[i]))));
  $('target-filter').value = '';
  $('target-k').max = String(count || '');
}

function showTargetMode() {
  const mode = $('target-mode').value;
  $('target-classes-field').hidden = mode !== 'classes';
  $('target-k-field').hidden = mode !== 'top-k';
}

function chosenClasses() {
  return [...classSelect().selectedOptions].map((o) => Number(o.value));
}

/**
 * The Explain job's target fields: none (the predicted class), `target`, or `targets`.
 * @returns {Record<string, string>}
 */
export function targetFields() {
  const mode = $('target-mode').value;
  if (mode === 'top-k') {
    const k = Number($('target-k').value);
    if (!Number.isInteger(k) || k < 1) throw new UserError('Top k classes: enter a whole number k ≥ 1.');
    return { targets: `top-${k}` };
  }
  if (mode !== 'classes') return {};
  const chosen = chosenClasses();
  if (chosen.length === 0) throw new UserError('Choose at least one class in the list, or explain the predicted class.');
  return chosen.length === 1 ? { target: String(chosen[0]) } : { targets: chosen.join(',') };
}

/** One class for the grids of Compare and Tune (one map per cell): the first chosen one. */
export function firstTarget() {
  return $('target-mode').value === 'classes' ? String(chosenClasses()[0] ?? '') : '';
}

/** Explains `index` alone (a top-5 button); adds it to the list when the model reports no classes. */
export function chooseTarget(index, label) {
  const select = classSelect();
  if (![...select.options].some((o) => o.value === String(index))) select.append(h('option', { value: String(index) }, optionText(index, label)));
  for (const option of select.options) option.selected = option.value === String(index);
  $('target-mode').value = 'classes';
  showTargetMode();
}
