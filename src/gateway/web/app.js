// The web page: upload, explain, compare, tune. Built only on the public API (api.js);
// renderings are new URLs over a stored attribution, so changing how a map looks never starts a job.
import {
  ApiError,
  cancelExplanation,
  fetchRendering,
  getApiKey,
  getJson,
  getModel,
  listMethods,
  listModels,
  renderingUrl,
  request,
  setApiKey,
  submitExplanation,
  watchExplanation,
} from './api.js';
import { DIVERGING, drawColourBar } from './colormaps.js';
import { linePlot, swatch } from './plot.js';
import { cosine, ssim } from './similarity.js';

const $ = (id) => document.getElementById(id);

/** document.createElement with properties and children. */
function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k in node && typeof v !== 'string') node[k] = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  node.append(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
  return node;
}

const fmt = (v, digits = 3) => (v === undefined || !Number.isFinite(v) ? '–' : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : Number(v.toPrecision(digits)).toString());
const percent = (p) => `${(p * 100).toFixed(p >= 0.995 || p < 0.001 ? 0 : 1)} %`;
const debounce = (fn, ms) => {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
};

const state = {
  file: undefined,
  fileUrl: undefined,
  /** GET /v1/methods */
  catalogue: undefined,
  model: undefined,
  explain: undefined,
  compare: [],
  tune: { cells: [], noises: [], samples: [] },
};

// ---------------------------------------------------------------- errors and progress

/** What to do next, for the codes a newcomer meets most (errors.ts has the full catalogue). */
const HINTS = {
  SALIENCY_UNAUTHORIZED: 'Open “API key” at the top of the page and enter a key.',
  SALIENCY_RATE_LIMITED: 'Wait a few seconds, then try again.',
  SALIENCY_IMAGE_UNREADABLE: 'Choose a JPEG, PNG, WebP, GIF, TIFF or AVIF image.',
  SALIENCY_IMAGE_UNSUPPORTED: 'Choose a JPEG, PNG, WebP, GIF, TIFF or AVIF image.',
  SALIENCY_RESULT_EXPIRED: 'Run the explanation again.',
  SALIENCY_NOT_FOUND: 'Run the explanation again.',
  SALIENCY_QUEUE_FULL: 'The server is busy; try again in a moment.',
  SALIENCY_UNAVAILABLE: 'The job backend is down; try again in a moment.',
  NETWORK: 'Check that the server is running.',
};

function showError(box, err) {
  if (err?.name === 'AbortError') return;
  box.replaceChildren();
  if (err instanceof ApiError) {
    box.append(h('p', {}, h('strong', { class: 'code' }, err.code), ' ', err.message));
    if (HINTS[err.code]) box.append(h('p', { class: 'hint' }, HINTS[err.code]));
  } else {
    box.append(h('p', {}, String(err?.message ?? err)));
    if (!(err instanceof UserError)) console.error(err);
  }
}
const clearError = (box) => box.replaceChildren();

/** A mistake on the page itself (nothing was sent). */
class UserError extends Error {}

function setProgress(bar, fraction, text) {
  const value = Math.round(Math.min(Math.max(fraction, 0), 1) * 100);
  bar.setAttribute('aria-valuenow', String(value));
  if (text) bar.setAttribute('aria-valuetext', text);
  else bar.removeAttribute('aria-valuetext');
  bar.firstElementChild.style.width = `${value}%`;
}

/**
 * One panel's run: its buttons, progress bar, status line and error box, and the jobs in flight
 * (so Cancel can DELETE them).
 */
class Run {
  constructor(prefix) {
    this.runButton = $(`${prefix}-run`);
    this.cancelButton = $(`${prefix}-cancel`);
    this.bar = $(`${prefix}-progress`);
    this.status = $(`${prefix}-status`);
    this.error = $(`${prefix}-error`);
    this.ids = new Set();
    this.controller = undefined;
    this.cancelButton.addEventListener('click', () => this.cancel());
  }

  start() {
    this.controller?.abort();
    this.controller = new AbortController();
    this.ids.clear();
    clearError(this.error);
    setProgress(this.bar, 0);
    this.runButton.disabled = true;
    this.cancelButton.disabled = false;
    return this.controller.signal;
  }

  finish() {
    this.runButton.disabled = false;
    this.cancelButton.disabled = true;
  }

  get cancelled() {
    return this.controller?.signal.aborted ?? false;
  }

  async cancel() {
    const ids = [...this.ids];
    this.controller?.abort();
    this.status.textContent = 'Cancelling…';
    try {
      await Promise.all(ids.map((id) => cancelExplanation(id)));
      this.status.textContent = ids.length ? `Cancelled (${ids.length} job${ids.length > 1 ? 's' : ''} deleted).` : 'Cancelled.';
    } catch (err) {
      showError(this.error, err);
    }
    this.finish();
  }

  /** Submits one job and follows it to its end; failures become errors with the job's code. */
  async job(fields, onProgress) {
    if (!state.file) throw new UserError('Choose an image first: use the file picker, drop an image on the page, or paste one.');
    const signal = this.controller.signal;
    const queued = await submitExplanation(state.file, fields, signal);
    this.ids.add(queued.id);
    onProgress(0, 'queued');
    const done = await watchExplanation(queued, (p) => onProgress(p.total > 0 ? p.done / p.total : 0, p.total > 0 ? `${p.done} of ${p.total} ${p.stage}` : p.stage), signal);
    this.ids.delete(queued.id);
    if (done.status === 'failed') throw new ApiError(done.error?.code ?? 'SALIENCY_JOB_FAILED', done.error?.message ?? 'the job failed');
    if (done.status === 'cancelled') throw new ApiError('CANCELLED', 'the job was cancelled');
    onProgress(1, 'done');
    return done;
  }
}

/** Runs `fn` over `items`, at most `limit` at a time (the browser allows ~6 connections per host, and each job holds an event stream). */
async function pool(items, limit, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

// ---------------------------------------------------------------- image input

function setFile(file) {
  if (!file) return;
  state.file = file;
  // Not revoked: the last result still shows the image it was computed from.
  state.fileUrl = URL.createObjectURL(file);
  const preview = $('preview');
  preview.hidden = false;
  preview.src = state.fileUrl;
  preview.alt = `Preview of ${file.name || 'the pasted image'}`;
  $('file-info').textContent = `Selected: ${file.name || 'pasted image'} (${Math.max(1, Math.round(file.size / 1024))} kB).`;
  clearError($('setup-error'));
}

function setupInput() {
  const input = $('file');
  input.addEventListener('change', () => setFile(input.files?.[0]));
  const drop = $('drop');
  // The whole page accepts a drop, so a near miss does not navigate away to the file.
  document.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('dragging');
  });
  document.addEventListener('dragleave', (e) => {
    if (e.relatedTarget === null) drop.classList.remove('dragging');
  });
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('dragging');
    const file = [...(e.dataTransfer?.files ?? [])].find((f) => f.type.startsWith('image/')) ?? e.dataTransfer?.files?.[0];
    setFile(file);
  });
  document.addEventListener('paste', (e) => {
    const file = [...(e.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'));
    if (file) {
      e.preventDefault();
      setFile(file);
    }
  });
  // A file the browser cannot show (TIFF, or not an image at all): no broken-image icon.
  $('preview').addEventListener('error', () => {
    $('preview').hidden = true;
  });
  $('img-original').addEventListener('error', () => {
    $('img-original').alt = 'This browser cannot display the uploaded format; the server can still explain it.';
  });
}

// ---------------------------------------------------------------- models and classes

async function loadModels() {
  const models = await listModels();
  const select = $('model');
  select.replaceChildren(...models.map((m) => h('option', { value: m.id }, m.name && m.name !== m.id ? `${m.name} (${m.id})` : m.id)));
  if (models.length === 0) throw new UserError('No models are installed: put one under MODELS_DIR (see the README), then reload.');
  select.addEventListener('change', () => selectModel(select.value).catch((err) => showError($('setup-error'), err)));
  await selectModel(select.value);
}

async function selectModel(id) {
  const model = await getModel(id);
  state.model = model;
  const [height, width] = model.input.size;
  $('model-help').textContent = [model.description, `${width}×${height} input`, model.classes ? `${model.classes} classes` : undefined].filter(Boolean).join(' · ');
  const classes = model.labels ?? (model.classes ? Array.from({ length: model.classes }, (_, i) => String(i)) : []);
  $('target').replaceChildren(
    h('option', { value: '' }, 'Predicted class'),
    ...classes.map((label, i) => h('option', { value: String(i) }, model.labels ? `${i}: ${label}` : `class ${i}`)),
  );
  const layer = document.querySelector('[data-param="layer"] input');
  if (layer) layer.placeholder = model.gradCamLayer ?? 'model default';
}

/** Makes sure the class select can show `index` (models without labels or a class count). */
function chooseTarget(index, label) {
  const select = $('target');
  if (![...select.options].some((o) => o.value === String(index))) select.append(h('option', { value: String(index) }, label ? `${index}: ${label}` : `class ${index}`));
  select.value = String(index);
}

// ---------------------------------------------------------------- the method form, from GET /v1/methods

/** Parameters that only Integrated Gradients reads (directly, or as the SmoothGrad base). */
const IG_ONLY = new Set(['steps', 'rule', 'baseline']);
const PLACEHOLDERS = { seed: 'random', sigma: 'unset: noise applies', layer: 'model default' };

function enumValues(schema) {
  if (Array.isArray(schema.enum)) return schema.enum;
  if (Array.isArray(schema.anyOf) && schema.anyOf.every((s) => 'const' in s)) return schema.anyOf.map((s) => s.const);
  return undefined;
}

function methodInfo(name) {
  return state.catalogue.methods.find((m) => m.name === name);
}

function defaultOf(method, name) {
  return method.defaults[name] ?? state.catalogue.parameters.properties[name]?.default;
}

function paramField(method, name) {
  const schema = state.catalogue.parameters.properties[name] ?? {};
  const id = `p-${name}`;
  const def = defaultOf(method, name);
  const values = enumValues(schema);
  const range =
    schema.minimum !== undefined && schema.maximum !== undefined ? `${schema.minimum} – ${schema.maximum}` : schema.minimum !== undefined ? `≥ ${schema.minimum}` : schema.maximum !== undefined ? `≤ ${schema.maximum}` : undefined;
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
    control = h('input', { id, type: 'text', value: def !== undefined ? String(def) : '', placeholder: name === 'layer' ? (state.model?.gradCamLayer ?? PLACEHOLDERS.layer) : PLACEHOLDERS[name], spellcheck: 'false' });
  }
  control.setAttribute('aria-describedby', `${id}-help`);
  control.dataset.default = def === undefined ? '' : String(def);
  const wrapper = schema.type === 'boolean'
    ? h('div', { class: 'field check', dataset: { param: name } }, h('label', { for: id }, control, ' ', h('code', {}, name)), h('p', { class: 'help', id: `${id}-help` }, helpText))
    : h('div', { class: 'field', dataset: { param: name } }, h('label', { for: id }, h('code', {}, name)), control, h('p', { class: 'help', id: `${id}-help` }, helpText));
  return wrapper;
}

function buildParamForm() {
  const method = methodInfo($('method').value);
  $('method-help').textContent = `${method.description} (${method.kind === 'attribution' ? 'signed attribution' : 'sensitivity map'})`;
  const names = method.parameters.filter((p) => p !== 'target');
  $('params-fields').replaceChildren(...names.map((name) => paramField(method, name)));
  $('params').hidden = names.length === 0;
  $('p-base')?.addEventListener('change', updateParamVisibility);
  updateParamVisibility();
}

function updateParamVisibility() {
  const method = $('method').value;
  const ig = method === 'integrated-gradients' || $('p-base')?.value === 'integrated-gradients';
  for (const field of $('params-fields').children) field.hidden = IG_ONLY.has(field.dataset.param) && !ig;
}

/** Fields to send: only the values changed from their defaults (a preset fills the rest). */
function paramValues() {
  const fields = {};
  for (const field of $('params-fields').children) {
    if (field.hidden) continue;
    const control = field.querySelector('input, select');
    const value = control.type === 'checkbox' ? String(control.checked) : control.value.trim();
    if (value !== '' && value !== control.dataset.default) fields[field.dataset.param] = value;
  }
  return fields;
}

function setupMethods() {
  const { methods } = state.catalogue;
  const select = $('method');
  select.replaceChildren(...methods.map((m) => h('option', { value: m.name, selected: m.name === 'smoothgrad' }, m.name)));
  select.addEventListener('change', buildParamForm);
  buildParamForm();

  // Compare: every method, plus SmoothGrad over Integrated Gradients.
  const entries = methods.flatMap((m) => {
    const own = [{ key: m.name, title: m.name, fields: { method: m.name } }];
    if (m.name === 'smoothgrad') own.push({ key: 'smoothgrad+ig', title: 'smoothgrad over integrated-gradients', fields: { method: 'smoothgrad', base: 'integrated-gradients' } });
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

function setupRenderControls() {
  const { render } = state.catalogue;
  const options = (select, values, defaultText) => select.replaceChildren(h('option', { value: '' }, defaultText), ...values.map((v) => h('option', { value: v }, v)));
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

// ---------------------------------------------------------------- renderings

/**
 * Query of a rendering URL: only what differs from the server's defaults. A sequential colour map
 * chosen on the Tune controls never reaches a signed map: those are always drawn on a diverging
 * map centred at zero (the server refuses anything else), RdBu unless vik was chosen.
 */
function renderQuery(kind, attributionKind = 'sensitivity') {
  const { render } = state.catalogue;
  const q = {};
  if ($('r-reduce').value) q.reduce = $('r-reduce').value;
  if ($('r-sign').value) q.sign = $('r-sign').value;
  const chosen = $('r-colormap').value;
  if (chosen) q.colormap = effectiveRender(attributionKind).signed && !DIVERGING.has(chosen) ? 'RdBu' : chosen;
  if (Number($('r-clip').value) !== render.clip.default) q.clip = $('r-clip').value;
  if ($('r-scale').value.trim()) q.scale = $('r-scale').value.trim();
  if (kind === 'overlay.png' && Number($('r-overlay').value) !== render.overlay.default) q.overlay = $('r-overlay').value;
  return q;
}

/** The options the server resolves (render-options.ts), to label the colour bar. */
function effectiveRender(kind) {
  const magnitude = (r) => r === 'l2' || r === 'abs-sum' || r === 'abs-max';
  const givenReduce = $('r-reduce').value || undefined;
  const givenSign = $('r-sign').value || undefined;
  const reduce = givenReduce ?? (givenSign === 'all' ? 'sum' : kind === 'sensitivity' ? 'l2' : 'sum');
  const sign = givenSign ?? (magnitude(reduce) || kind === 'sensitivity' ? 'abs' : 'all');
  const signed = sign === 'all' && !magnitude(reduce);
  const chosen = $('r-colormap').value;
  const colormap = chosen && (!signed || DIVERGING.has(chosen)) ? chosen : signed ? 'RdBu' : 'viridis';
  return { reduce, sign, signed, colormap, centred: signed || DIVERGING.has(colormap) };
}

const latest = new WeakMap();

/** Shows a rendering in an <img> (as a blob: URL, so an API key can be sent); stale answers are dropped. */
async function showRendering(img, url) {
  const token = {};
  latest.set(img, token);
  const rendering = await fetchRendering(url);
  if (latest.get(img) !== token) return undefined;
  const old = img.src;
  img.src = URL.createObjectURL(rendering.blob);
  img.dataset.api = url;
  if (old.startsWith('blob:')) URL.revokeObjectURL(old);
  await img.decode().catch(() => undefined);
  return rendering;
}

function renderAll() {
  renderExplain().catch((err) => showError($('explain-error'), err));
  renderCompare().catch((err) => showError($('compare-error'), err));
  renderTune().catch((err) => showError($('tune-error'), err));
}

// ---------------------------------------------------------------- Explain

async function runExplain(event) {
  event?.preventDefault();
  const run = runs.explain;
  const signal = run.start();
  run.status.textContent = 'Uploading…';
  const fields = { model: $('model').value, method: $('method').value, target: $('target').value, ...paramValues() };
  const fileUrl = state.fileUrl;
  try {
    const explanation = await run.job(fields, (fraction, text) => {
      setProgress(run.bar, fraction, text);
      run.status.textContent = { queued: 'Queued…', running: 'Running…', done: 'Rendering…' }[text] ?? `Running: ${text}`;
    });
    if (signal.aborted) return;
    state.explain = { explanation, fields, fileUrl };
    $('img-original').src = fileUrl;
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

function showExplanation(e) {
  $('explain-result').hidden = false;
  const p = e.prediction;
  const labelOf = (c) => (c.label ? `${c.label}` : `class ${c.index}`);
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
              'aria-pressed': String(c.index === p.target),
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
  for (const fill of $('top5').querySelectorAll('.fill')) fill.style.width = `${Math.round(Number(fill.dataset.w) * 100)}%`;
  const a = e.attribution;
  $('explain-meta').textContent = [
    `Explained: ${p.label ?? `class ${p.target}`} (index ${p.target}, score ${percent(p.score)})`,
    `${e.method}${e.params.base && e.params.base !== 'gradient' && e.params.samples ? ` over ${e.params.base}` : ''}, seed ${e.params.seed ?? '–'}`,
    `computed in ${e.timings.computeMs ?? '?'} ms`,
    a?.completenessGap !== undefined ? `completeness gap ${fmt(a.completenessGap)}` : undefined,
    a?.layer ? `layer ${a.layer}` : undefined,
  ]
    .filter(Boolean)
    .join(' · ');
  $('curl').textContent = curlExample(e);
}

async function renderExplain() {
  const e = state.explain?.explanation;
  if (!e) return;
  const kind = e.attribution?.kind ?? 'sensitivity';
  const heatUrl = renderingUrl(e, 'heatmap.png', renderQuery('heatmap.png', kind));
  const overlayUrl = renderingUrl(e, 'overlay.png', renderQuery('overlay.png', kind));
  const [heat] = await Promise.all([showRendering($('img-heatmap'), heatUrl), showRendering($('img-overlay'), overlayUrl)]);
  clearError($('explain-error'));
  if (heat) drawLegend(e, heat);
  const short = e.id.slice(0, 8);
  const links = [
    ['Heatmap PNG', heatUrl, `${e.method}-${short}-heatmap.png`],
    ['Overlay PNG', overlayUrl, `${e.method}-${short}-overlay.png`],
    ['Attribution .npy', renderingUrl(e, 'attribution.npy'), `${e.method}-${short}.npy`],
    ['Map JSON', renderingUrl(e, 'map.json', renderQuery('map.json', kind)), `${e.method}-${short}-map.json`],
  ];
  $('downloads').replaceChildren('Download: ', ...links.flatMap(([text, href, name], i) => [i ? ' · ' : '', h('a', { href, download: name, onclick: downloadWithKey }, text)]));
}

/** Colour bar from the colormap's anchors; the numbers are the scale the server reported. */
function drawLegend(e, rendering) {
  const r = effectiveRender(e.attribution?.kind ?? 'sensitivity');
  drawColourBar($('colourbar-canvas'), r.colormap);
  const s = rendering.scale;
  const ticks = r.centred ? [-s, 0, s] : [0, s / 2, s];
  $('colourbar-ticks').replaceChildren(...ticks.map((t) => h('span', {}, fmt(t))));
  const what = r.signed ? 'signed attribution' : r.sign === 'negative' ? 'negative part' : r.sign === 'positive' ? 'positive part' : 'magnitude';
  const scaleText = $('r-scale').value.trim() ? `fixed scale ${fmt(s)}` : `scale ${fmt(s)} (the ${$('r-clip').value}th percentile of |map|)`;
  $('colourbar-canvas').setAttribute('aria-label', `Colour bar, ${r.colormap}: ${fmt(ticks[0])} to ${fmt(ticks[2])}`);
  $('colourbar-text').textContent = `${r.colormap}, ${what} (reduce ${r.reduce}, sign ${r.sign}); ${scaleText}; ${r.signed ? `values beyond ±${fmt(rendering.clip)}` : `values above ${fmt(rendering.clip)}`} saturate.`;
}

function curlExample(e) {
  const origin = location.origin;
  const auth = getApiKey() ? ` -H "Authorization: Bearer $SALIENCY_API_KEY"` : '';
  const fields = Object.entries(state.explain.fields).filter(([, v]) => v !== '' && v !== undefined);
  const form = fields.map(([k, v]) => ` -F ${k}=${/^[\w.+-]+$/.test(v) ? v : `'${v}'`}`).join('');
  const heat = renderingUrl(e, 'heatmap.png', renderQuery('heatmap.png', e.attribution?.kind ?? 'sensitivity'));
  return [
    `# submit and wait up to 30 s (answers the explanation, with its links)`,
    `curl${auth} -F image=@${state.file?.name?.replace(/[^\w.+-]/g, '_') || 'photo.png'}${form} '${origin}/v1/explanations?wait=30'`,
    `# or submit without ?wait and follow the progress events: curl${auth} -N ${origin}${e.links.events}`,
    `curl${auth} -o heatmap.png '${origin}${heat}'`,
  ].join('\n');
}

/** Download links are plain API URLs; with an API key the file is fetched with the header instead. */
async function downloadWithKey(event) {
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

// ---------------------------------------------------------------- grids (Compare and Tune)

/** One result cell: title, image, its colour bar, a note; `explanation` once its job completed. */
function makeCell(title, alt) {
  const img = h('img', { alt, class: 'cell-img' });
  const bar = h('canvas', { class: 'cell-bar', width: 128, height: 8, role: 'img' });
  const ticks = h('div', { class: 'ticks', 'aria-hidden': 'true' });
  const legend = h('div', { class: 'colourbar cell-legend', hidden: true }, bar, ticks);
  const note = h('p', { class: 'note' }, 'queued');
  const figure = h('figure', { class: 'cell' }, h('figcaption', {}, title), h('div', { class: 'cell-frame' }, img), legend, note);
  return { title, img, bar, ticks, legend, note, figure, explanation: undefined, fraction: 0 };
}

async function renderCell(cell) {
  if (!cell.explanation) return;
  const kind = $('r-grid').value;
  const attributionKind = cell.explanation.attribution?.kind ?? 'sensitivity';
  const rendering = await showRendering(cell.img, renderingUrl(cell.explanation, kind, renderQuery(kind, attributionKind)));
  if (!rendering) return;
  // Each cell is scaled on its own: its bar carries its own numbers.
  const r = effectiveRender(attributionKind);
  const s = rendering.scale;
  const ticks = r.centred ? [-s, 0, s] : [0, s / 2, s];
  drawColourBar(cell.bar, r.colormap);
  cell.bar.setAttribute('aria-label', `Colour bar, ${r.colormap}: ${fmt(ticks[0])} to ${fmt(ticks[2])}`);
  cell.ticks.replaceChildren(...ticks.map((t) => h('span', {}, fmt(t))));
  cell.legend.hidden = false;
  cell.note.textContent = [`${r.colormap}`, `scale ${fmt(s)}`, `${cell.explanation.timings.computeMs ?? '?'} ms`, ...(cell.extra ?? [])].join(' · ');
}

function overallProgress(run, cells) {
  const fraction = cells.reduce((s, c) => s + c.fraction, 0) / Math.max(cells.length, 1);
  const finished = cells.filter((c) => c.fraction >= 1 || c.failed).length;
  setProgress(run.bar, fraction, `${finished} of ${cells.length} jobs finished`);
  run.status.textContent = `${finished} of ${cells.length} jobs finished…`;
}

/** Runs one job per cell (three at a time), rendering each cell as its job completes. */
async function runCells(run, cells, fieldsOf) {
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
      cell.note.replaceChildren(h('strong', { class: 'code' }, err.code ?? 'ERROR'), ' ', err.message);
      cell.figure.classList.add('failed');
      overallProgress(run, cells);
    }
  });
  return failures;
}

// ---------------------------------------------------------------- Compare

async function runCompare(event) {
  event.preventDefault();
  const run = runs.compare;
  const chosen = [...$('compare-methods').querySelectorAll('input:checked')].map((c) => state.compareEntries.find((e) => e.key === c.value));
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
  const common = { model: $('model').value, target: $('target').value };
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

async function renderCompare() {
  await Promise.all(state.compare.map(renderCell));
}

// ---------------------------------------------------------------- Tune

const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9']; // Okabe–Ito, colour-blind safe

function parseList(text, what, integer) {
  const values = text.split(/[\s,;]+/).filter(Boolean).map(Number);
  if (values.length === 0 || values.some((v) => !Number.isFinite(v) || v < 0 || (integer && (!Number.isInteger(v) || v < 1)))) {
    throw new UserError(`${what}: enter comma-separated ${integer ? 'whole numbers ≥ 1' : 'numbers ≥ 0'}.`);
  }
  if (values.length > 6) throw new UserError(`${what}: at most 6 values.`);
  return [...new Set(values)].sort((a, b) => a - b);
}

async function runTune(event) {
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
  const cells = noises.flatMap((noise) => samples.map((n) => Object.assign(makeCell(`σ ${noise}, n ${n}`, `${method} heatmap, noise ${noise}, ${n} samples`), { noise, samples: n })));
  state.tune = { cells, noises, samples, method };
  buildSweepTable(method, noises, samples, cells);
  $('tune-plot').replaceChildren();
  const common = { model: $('model').value, target: $('target').value, method, seed: $('tune-seed').value };
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

function buildSweepTable(method, noises, samples, cells) {
  const table = h(
    'table',
    { class: 'sweep-table' },
    h('caption', {}, `${method}: rows are noise levels σ, columns sample counts n`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'σ \\ n'), ...samples.map((n) => h('th', { scope: 'col' }, String(n))))),
    h(
      'tbody',
      {},
      ...noises.map((noise, r) => h('tr', {}, h('th', { scope: 'row' }, String(noise)), ...samples.map((_, c) => h('td', {}, cells[r * samples.length + c].figure)))),
    ),
  );
  $('tune-grid').replaceChildren(h('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': 'Sweep results' }, table));
}

async function renderTune() {
  if (state.tune.cells.length === 0) return;
  await Promise.all(state.tune.cells.map(renderCell));
  if (!runs.tune.runButton.disabled) await drawSimilarity();
}

/**
 * Similarity of each run to the run with the most samples at the same noise level, from map.json
 * (the reduced 2-D maps with the current reduce/sign/clip): cosine, and SSIM on maps in [0, 1].
 */
async function drawSimilarity() {
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
      h('tbody', {}, ...rows.map((r) => h('tr', {}, h('td', {}, String(r.noise)), h('td', {}, String(r.x)), h('td', {}, String(r.reference)), h('td', {}, r.cos.toFixed(4)), h('td', {}, r.ssim.toFixed(4))))),
    ),
  );
  $('tune-plot').replaceChildren(
    h('h3', {}, 'Convergence'),
    h('p', { class: 'help' }, 'How close each map is to the one with the most samples at the same σ (1 = identical). SSIM: Wang et al. 2004, 11×11 gaussian window, σ 1.5, maps scaled to [0, 1].'),
    svg,
    legend,
    table,
  );
}

// ---------------------------------------------------------------- tabs

function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const select = (tab, focus) => {
    for (const t of tabs) {
      const selected = t === tab;
      t.setAttribute('aria-selected', String(selected));
      t.tabIndex = selected ? 0 : -1;
      $(t.getAttribute('aria-controls')).hidden = !selected;
    }
    // One set of rendering controls, shown next to the results of the visible panel.
    $(tab.getAttribute('aria-controls')).querySelector('.render-slot').append($('render'));
    if (focus) tab.focus();
  };
  for (const tab of tabs) {
    tab.addEventListener('click', () => select(tab, false));
    tab.addEventListener('keydown', (e) => {
      const i = tabs.indexOf(tab);
      const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (next === undefined) return;
      e.preventDefault();
      select(tabs[(next + tabs.length) % tabs.length], true);
    });
  }
  select(tabs[0], false);
}

// ---------------------------------------------------------------- start

const runs = {};

async function main() {
  runs.explain = new Run('explain');
  runs.compare = new Run('compare');
  runs.tune = new Run('tune');
  const key = $('api-key');
  key.value = getApiKey();
  if (key.value) key.closest('details').open = true;
  key.addEventListener('change', () => setApiKey(key.value));
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    setApiKey(key.value);
  });
  setupInput();
  setupTabs();
  $('explain-form').addEventListener('submit', runExplain);
  $('compare-form').addEventListener('submit', runCompare);
  $('tune-form').addEventListener('submit', runTune);
  try {
    state.catalogue = await listMethods();
    setupMethods();
    setupRenderControls();
    await loadModels();
    document.body.dataset.ready = 'true';
  } catch (err) {
    showError($('setup-error'), err);
    if (err instanceof ApiError && err.code === 'SALIENCY_UNAUTHORIZED') {
      key.closest('details').open = true;
      key.addEventListener('change', () => location.reload(), { once: true });
    }
  }
}

void main();
