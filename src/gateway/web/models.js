// @ts-check
// Models and their classes (GET /v1/models).
import { getModel, listModels } from './api.js';
import { $, h } from './dom.js';
import { showError, UserError } from './feedback.js';
import { state } from './state.js';

export async function loadModels() {
  const models = await listModels();
  const select = $('model');
  select.replaceChildren(...models.map((m) => h('option', { value: m.id }, m.name && m.name !== m.id ? `${m.name} (${m.id})` : m.id)));
  if (models.length === 0) throw new UserError('No models are installed: put one under MODELS_DIR (see the README), then reload.');
  select.addEventListener('change', () => selectModel(select.value).catch((err) => showError($('setup-error'), err)));
  await selectModel(select.value);
}

export async function selectModel(id) {
  const model = await getModel(id);
  state.model = model;
  const [height, width] = model.input.size;
  $('model-help').textContent = [model.description, `${width}×${height} input`, model.classes ? `${model.classes} classes` : undefined]
    .filter(Boolean)
    .join(' · ');
  const classes = model.labels ?? (model.classes ? Array.from({ length: model.classes }, (_, i) => String(i)) : []);
  $('target').replaceChildren(
    h('option', { value: '' }, 'Predicted class'),
    ...classes.map((label, i) => h('option', { value: String(i) }, model.labels ? `${i}: ${label}` : `class ${i}`)),
  );
  const layer = /** @type {HTMLInputElement | null} */ (document.querySelector('[data-param="layer"] input'));
  if (layer) layer.placeholder = model.gradCamLayer ?? 'model default';
}

/** Makes sure the class select can show `index` (models without labels or a class count). */
export function chooseTarget(index, label) {
  const select = /** @type {HTMLSelectElement} */ (/** @type {unknown} */ ($('target')));
  if (![...select.options].some((o) => o.value === String(index)))
    select.append(h('option', { value: String(index) }, label ? `${index}: ${label}` : `class ${index}`));
  select.value = String(index);
}
