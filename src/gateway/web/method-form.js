// @ts-check
// The method form, built from GET /v1/methods, and the rendering controls.
import { $, debounce, h } from './dom.js';
import { renderAll } from './renderings.js';
import { state } from './state.js';

export const PLACEHOLDERS = { seed: 'random', sigma: 'unset: noise applies', layer: 'model default' };

export function enumValues(schema) {
  if (Array.isArray(schema.enum)) return schema.enum;
  if (Array.isArray(schema.anyOf) && schema.anyOf.every((s) => 'const' in s)) return schema.anyOf.map((s) => s.const);
  return undefined;
}

export function methodInfo(name) {
  return state.catalogue.methods.find((m) => m.name === name);
}

/** What a method reads of its own, besides the target and a preset (GET /v1/methods). */
const ownParameters = (method) => method.parameters.filter((p) => p !== 'target' && p !== 'preset');

/** The bases a method combines with, as GET /v1/methods lists them. */
export function basesOf(method) {
  return method.parameters.includes('base') ? (method.bases ?? []) : [];
}

/** Parameters that only some base reads (IG's steps, Grad-CAM's layer): shown only under that base. */
export function hiddenUnder(method, base) {
  const chosen = methodInfo(base);
  const ofBases = basesOf(method).flatMap((name) => ownParameters(methodInfo(name)));
  return new Set(ofBases.filter((p) => !chosen || !ownParameters(chosen).includes(p)));
}

export function defaultOf(method, name) {
  return method.defaults[name] ?? state.catalogue.parameters.properties[name]?.default;
}

/** A number schema's bounds as the help text says them: "1 – 1000", "≥ 1", "> 0, < 1". */
export function rangeText(schema) {
  const { minimum: min, maximum: max, exclusiveMinimum: xmin, exclusiveMaximum: xmax } = schema;
  if (min !== undefined && max !== undefined) return `${min} – ${max}`;
  const bounds = [
    min !== undefined ? `≥ ${min}` : xmin !== undefined ? `> ${xmin}` : undefined,
    max !== undefined ? `≤ ${max}` : xmax !== undefined ? `< ${xmax}` : undefined,
  ];
  return bounds.filter(Boolean).join(', ') || undefined;
}

export function paramField(method, name) {
  const schema = state.catalogue.parameters.properties[name] ?? {};
  const id = `p-${name}`;
  const def = defaultOf(method, name);
  const values = enumValues(schema);
  const range = rangeText(schema);
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
    const shown = name === 'base' ? basesOf(method) : values.filter((v) => v !== 'uploaded');
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
  baseControl()?.addEventListener('change', updateParamVisibility);
  updateParamVisibility();
}

export function updateParamVisibility() {
  const hidden = hiddenUnder(methodInfo($('method').value), baseControl()?.value);
  for (const field of fieldsOf($('params-fields'))) field.hidden = hidden.has(field.dataset.param ?? '');
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

  // Compare: every method at its defaults, plus SmoothGrad over each of its other bases
  // (over integrated-gradients, Smooth Grad-CAM over grad-cam, ...).
  const entries = methods.flatMap((m) => [
    { key: m.name, title: m.name, fields: { method: m.name } },
    ...(m.name === 'smoothgrad' ? basesOf(m) : [])
      .filter((base) => base !== defaultOf(m, 'base'))
      .map((base) => ({ key: `${m.name}+${base}`, title: `${m.name} over ${base}`, fields: { method: m.name, base } })),
  ]);
  const defaults = new Set(['gradient', 'integrated-gradients', 'smoothgrad', 'smoothgrad+integrated-gradients', 'smoothdiff', 'grad-cam']);
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

/** The base select, where the method has a base. */
const baseControl = () => /** @type {HTMLSelectElement | null} */ (document.getElementById('p-base'));

/**
 * The parameter fields of the form (one element per parameter, data-param naming it).
 * @param {HTMLElement} container
 * @returns {HTMLElement[]}
 */
function fieldsOf(container) {
  return [...container.children].filter((c) => c instanceof HTMLElement);
}
