// @ts-check
// The method form, built from GET /v1/methods, and the rendering controls.
import { $, debounce, h } from './dom.js';
import { renderAll } from './renderings.js';
import { state } from './state.js';

/** Parameters that only Integrated Gradients reads (directly, or as the SmoothGrad base). */
export const IG_ONLY = new Set(['steps', 'rule', 'baseline']);
export const PLACEHOLDERS = { seed: 'random', sigma: 'unset: noise applies', layer: 'model default' };

export function enumValues(schema) {
  if (Array.isArray(schema.enum)) return schema.enum;
  if (Array.isArray(schema.anyOf) && schema.anyOf.every((s) => 'const' in s)) return schema.anyOf.map((s) => s.const);
  return undefined;
}

export function methodInfo(name) {
  return state.catalogue.methods.find((m) => m.name === name);
}

export function defaultOf(method, name) {
  return method.defaults[name] ?? state.catalogue.parameters.properties[name]?.default;
}

export function paramField(method, name) {
  const schema = state.catalogue.parameters.properties[name] ?? {};
  const id = `p-${name}`;
  const def = defaultOf(method, name);
  const values = enumValues(schema);
  const range =
    schema.minimum !== undefined && schema.maximum !== undefined
      ? `${schema.minimum} – ${schema.maximum}`
      : schema.minimum !== undefined
        ? `≥ ${schema.minimum}`
        : schema.maximum !== undefined
          ? `≤ ${schema.maximum}`
          : undefined;
  // Descriptions may already name the defaults of several methods; say this method's one.
  const helpText = [
    schema.description?.replace(/\s*\(default[^)]*\)/, ''),
    def !== undefined ? `default ${def}` : undefined,
    range,
    values?.includes('uploaded') ? "'uploaded' is for API clients that send a baseline .npy" : undefined,
  ]
    .filter(Boolean)
    .join('; ');
  let control;
  if (values) {
    // 'uploaded' needs a baseline .npy file, which this page does not send.
    const shown = values.filter((v) => v !== 'uploaded');
    const none = def === undefined ? [h('option', { value: '' }, 'none')] : [];
    control = h('select', { id }, ...none, ...shown.map((v) => h('option', { value: v }, v)));
    control.value = def === undefined ? '' : String(def);
  } else if (schema.type === 'boolean') {
    control = h('input', { id, type: 'checkbox', checked: def === true });
  } else if (schema.type === 'integer' || schema.type === 'number') {
    control = h('input', {
      id,
      type: 'number',
      inputmode: schema.type === 'integer' ? 'numeric' : 'decimal',
      step: schema.type === 'integer' ? '1' : 'any',
      min: schema.minimum !== undefined ? String(schema.minimum) : undefined,
      max: schema.maximum !== undefined ? String(schema.maximum) : undefined,
      value: def !== undefined ? String(def) : '',
      placeholder: PLACEHOLDERS[name],
    });
  } else {
    control = h('input', {
      id,
      type: 'text',
      value: def !== undefined ? String(def) : '',
      placeholder: name === 'layer' ? (state.model?.gradCamLayer ?? PLACEHOLDERS.layer) : PLACEHOLDERS[name],
      spellcheck: 'false',
    });
  }
  control.setAttribute('aria-describedby', `${id}-help`);
  control.dataset.default = def === undefined ? '' : String(def);
  const wrapper =
    schema.type === 'boolean'
      ? h(
          'div',
          { class: 'field check', dataset: { param: name } },
          h('label', { for: id }, control, ' ', h('code', {}, name)),
          h('p', { class: 'help', id: `${id}-help` }, helpText),
        )
      : h(
          'div',
          { class: 'field', dataset: { param: name } },
          h('label', { for: id }, h('code', {}, name)),
          control,
          h('p', { class: 'help', id: `${id}-help` }, helpText),
        );
  return wrapper;
}

export function buildParamForm() {
  const method = methodInfo($('method').value);
  $('method-help').textContent = `${method.description} (${method.kind === 'attribution' ? 'signed attribution' : 'sensitivity map'})`;
  const names = method.parameters.filter((p) => p !== 'target');
  $('params-fields').replaceChildren(...names.map((name) => paramField(method, name)));
  $('params').hidden = names.length === 0;
  $('p-base')?.addEventListener('change', updateParamVisibility);
  updateParamVisibility();
}

export function updateParamVisibility() {
  const method = $('method').value;
  const ig = method === 'integrated-gradients' || $('p-base')?.value === 'integrated-gradients';
  for (const field of fieldsOf($('params-fields'))) field.hidden = IG_ONLY.has(field.dataset.param ?? '') && !ig;
}

/** Fields to send: only the values changed from their defaults (a preset fills the rest). */
export function paramValues() {
  const fields = {};
  for (const field of fieldsOf($('params-fields'))) {
    const control = /** @type {HTMLInputElement | null} */ (field.querySelector('input, select'));
    if (field.hidden || !control) continue;
    const value = control.type === 'checkbox' ? String(control.checked) : control.value.trim();
    if (value !== '' && value !== control.dataset.default) fields[field.dataset.param ?? ''] = value;
  }
  return fields;
}

export function setupMethods() {
  const { methods } = state.catalogue;
  const select = $('method');
  select.replaceChildren(...methods.map((m) => h('option', { value: m.name, selected: m.name === 'smoothgrad' }, m.name)));
  select.addEventListener('change', buildParamForm);
  buildParamForm();

  // Compare: every method, plus SmoothGrad over Integrated Gradients.
  const entries = methods.flatMap((m) => {
    const own = [{ key: m.name, title: m.name, fields: { method: m.name } }];
    if (m.name === 'smoothgrad')
      own.push({ key: 'smoothgrad+ig', title: 'smoothgrad over integrated-gradients', fields: { method: 'smoothgrad', base: 'integrated-gradients' } });
    return own;
  });
  const defaults = new Set(['gradient', 'integrated-gradients', 'smoothgrad', 'smoothgrad+ig', 'smoothdiff', 'grad-cam']);
  state.compareEntries = entries;
  $('compare-methods').replaceChildren(
    ...entries.map((e) => h('label', { class: 'check' }, h('input', { type: 'checkbox', value: e.key, checked: defaults.has(e.key) }), ' ', e.title)),
  );

  // Tune: methods with a noise level and a sample count.
  const noisy = methods.filter((m) => m.parameters.includes('noise') && m.parameters.includes('samples'));
  $('tune-method').replaceChildren(...noisy.map((m) => h('option', { value: m.name }, m.name)));
}

export function setupRenderControls() {
  const { render } = state.catalogue;
  const options = (select, values, defaultText) =>
    select.replaceChildren(h('option', { value: '' }, defaultText), ...values.map((v) => h('option', { value: v }, v)));
  options($('r-reduce'), render.reduce.values, `auto (${render.reduce.default.sensitivity} or ${render.reduce.default.attribution})`);
  options($('r-sign'), render.sign.values, `auto (${render.sign.default.sensitivity} or ${render.sign.default.attribution})`);
  options($('r-colormap'), render.colormap.values, `auto (${render.colormap.default.sequential} or ${render.colormap.default.signed})`);
  $('r-clip').value = String(render.clip.default);
  $('r-overlay').value = String(render.overlay.default);
  const rerender = debounce(renderAll, 150);
  for (const id of ['r-reduce', 'r-sign', 'r-colormap', 'r-grid']) $(id).addEventListener('change', renderAll);
  $('r-clip').addEventListener('input', () => {
    $('r-clip-out').value = $('r-clip').value;
    rerender();
  });
  $('r-overlay').addEventListener('input', () => {
    $('r-overlay-out').value = $('r-overlay').value;
    rerender();
  });
  $('r-scale').addEventListener('change', renderAll);
}

/**
 * The parameter fields of the form (one element per parameter, data-param naming it).
 * @param {HTMLElement} container
 * @returns {HTMLElement[]}
 */
function fieldsOf(container) {
  return [...container.children].filter((c) => c instanceof HTMLElement);
}
