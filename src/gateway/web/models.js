// @ts-check
// Models and their classes (GET /v1/models).
import { getModel, listModels } from './api.js';
import { $, h } from './dom.js';
import { showError, UserError } from './feedback.js';
import { state } from './state.js';
import { fillClasses } from './targets.js';

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
  fillClasses(model);
  const layer = /** @type {HTMLInputElement | null} */ (document.querySelector('[data-param="layer"] input'));
  if (layer) layer.placeholder = model.gradCamLayer ?? 'model default';
}
