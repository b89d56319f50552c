// @ts-check
// Renderings: URLs over a stored attribution, what the server will resolve, blob: images.
import { fetchRendering } from './api.js';
import { DIVERGING } from './colormaps.js';
import { renderCompare } from './compare-tab.js';
import { $ } from './dom.js';
import { renderExplain } from './explain-tab.js';
import { showError } from './feedback.js';
import { state } from './state.js';
import { renderTune } from './tune-tab.js';

/**
 * Query of a rendering URL: only what differs from the server's defaults. A sequential colour map
 * chosen on the Tune controls never reaches a signed map: those are always drawn on a diverging
 * map centred at zero (the server refuses anything else), RdBu unless vik was chosen.
 */
export function renderQuery(kind, attributionKind = 'sensitivity') {
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
export function effectiveRender(kind) {
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

export const latest = new WeakMap();

/** Shows a rendering in an <img> (as a blob: URL, so an API key can be sent); stale answers are dropped. */
export async function showRendering(img, url) {
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

export function renderAll() {
  renderExplain().catch((err) => showError($('explain-error'), err));
  renderCompare().catch((err) => showError($('compare-error'), err));
  renderTune().catch((err) => showError($('tune-error'), err));
}
