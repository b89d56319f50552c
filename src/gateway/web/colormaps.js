// @ts-check
// Colour bars drawn client-side from the server's own 256-entry tables (served as
// colormap-tables.js from src/imaging/colormap-tables.ts), so a bar matches its heatmap exactly.
import { COLORMAP_TABLES } from './colormap-tables.js';

/** @typedef {keyof typeof COLORMAP_TABLES} ColormapName */

export const DIVERGING = new Set(['RdBu', 'vik']);

/** @type {Map<string, Uint8Array>} */
const luts = new Map();

/** @param {string} name */
function lut(name) {
  let table = luts.get(name);
  if (!table) {
    const hex = /** @type {Record<string, string>} */ (COLORMAP_TABLES)[name] ?? COLORMAP_TABLES.viridis;
    table = Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
    luts.set(name, table);
  }
  return table;
}

/**
 * sRGB colour of unit value t in [0, 1], the entry the server picks (round(t·255)).
 * @param {string} name
 * @param {number} t
 * @returns {[number, number, number]}
 */
export function colourAt(name, t) {
  const i = 3 * Math.round(Math.min(Math.max(t, 0), 1) * 255);
  const table = lut(name);
  return [table[i] ?? 0, table[i + 1] ?? 0, table[i + 2] ?? 0];
}

/**
 * Fills a canvas left (low) to right (high) with the colormap.
 * @param {HTMLCanvasElement} canvas
 * @param {string} name
 */
export function drawColourBar(canvas, name) {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const { width, height } = canvas;
  const image = ctx.createImageData(width, height);
  for (let x = 0; x < width; x++) {
    const [r, g, b] = colourAt(name, x / Math.max(width - 1, 1));
    for (let y = 0; y < height; y++) image.data.set([r, g, b, 255], 4 * (y * width + x));
  }
  ctx.putImageData(image, 0, 0);
}
