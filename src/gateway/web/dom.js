// @ts-check
// DOM helpers: elements by id, element construction, number formatting.

/**
 * An element of index.html by id. The page's ids are fixed, so a missing one is a bug: it throws.
 * Typed as an input element, the widest of the kinds the page looks up by id.
 * @param {string} id
 * @returns {HTMLInputElement}
 */
export const $ = (id) => {
  const node = document.getElementById(id);
  if (!node) throw new Error(`index.html has no #${id}`);
  return /** @type {HTMLInputElement} */ (node);
};

/**
 * A canvas of index.html by id.
 * @param {string} id
 * @returns {HTMLCanvasElement}
 */
export const canvas = (id) => /** @type {HTMLCanvasElement} */ (/** @type {unknown} */ ($(id)));

/** document.createElement with properties and children. */
export function h(tag, props = {}, ...children) {
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

export const fmt = (v, digits = 3) =>
  v === undefined || !Number.isFinite(v)
    ? '–'
    : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0)
      ? v.toExponential(2)
      : Number(v.toPrecision(digits)).toString();
export const percent = (p) => `${(p * 100).toFixed(p >= 0.995 || p < 0.001 ? 0 : 1)} %`;
export const debounce = (fn, ms) => {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
};
