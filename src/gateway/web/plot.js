// @ts-check
// A small inline-SVG line plot (no library: the page works offline).

const SVG = 'http://www.w3.org/2000/svg';

export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9']; // Okabe–Ito, colour-blind safe

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

const fmt = (v) => (Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(2));

/** The default y range, for similarities: up to 1, down to the lowest value in steps of 0.2. */
function similarityRange(ys) {
  const low = Math.min(...ys, 1);
  return [low >= 0.9 ? 0.9 : Math.max(-1, Math.floor(low * 5) / 5), 1];
}

/**
 * series: [{label, colour, dash, marker: 'circle'|'square', points: [{x, y}]}]. The x axis is
 * logarithmic when `logX` (sample counts grow geometrically); ticks sit at the data's x values
 * unless `xTicks` lists others; the y axis spans `yRange`, by default up to 1 as similarities do.
 * `id` names the title and description, unique per page.
 * @param {{ series: any[], xLabel: string, yLabel: string, title: string, description: string, id?: string, logX?: boolean,
 *   xTicks?: number[], yRange?: [number, number], width?: number, height?: number }} options
 */
export function linePlot({ series, xLabel, yLabel, title, description, id = 'plot', logX = false, xTicks, yRange, width = 560, height = 300 }) {
  const m = { left: 56, right: 18, top: 14, bottom: 46 };
  const data = [...new Set(series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const xs = xTicks ?? data;
  const ys = series.flatMap((s) => s.points.map((p) => p.y)).filter(Number.isFinite);
  const [yMin, yMax] = yRange ?? similarityRange(ys);
  const tx = logX ? Math.log : (v) => v;
  const [x0, x1] = [tx(Math.min(xs[0] ?? 0, data[0] ?? 0)), tx(Math.max(xs[xs.length - 1] ?? 1, data[data.length - 1] ?? 1))];
  const px = (x) => m.left + (x1 > x0 ? ((tx(x) - x0) / (x1 - x0)) * (width - m.left - m.right) : (width - m.left - m.right) / 2);
  const py = (y) => m.top + ((yMax - y) / (yMax - yMin)) * (height - m.top - m.bottom);

  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'plot', 'aria-labelledby': `${id}-title ${id}-desc` });
  svg.append(el('title', { id: `${id}-title` }, title), el('desc', { id: `${id}-desc` }, description));

  const axes = el('g', { class: 'axes' });
  for (let i = 0; i <= 4; i++) {
    const y = yMin + ((yMax - yMin) * i) / 4;
    axes.append(el('line', { x1: m.left, x2: width - m.right, y1: py(y), y2: py(y), class: 'grid' }));
    axes.append(el('text', { x: m.left - 8, y: py(y) + 4, 'text-anchor': 'end' }, y.toFixed(2)));
  }
  for (const x of xs) {
    axes.append(el('line', { x1: px(x), x2: px(x), y1: height - m.bottom, y2: height - m.bottom + 5, class: 'tick' }));
    axes.append(el('text', { x: px(x), y: height - m.bottom + 19, 'text-anchor': 'middle' }, fmt(x)));
  }
  axes.append(el('line', { x1: m.left, x2: width - m.right, y1: height - m.bottom, y2: height - m.bottom, class: 'axis' }));
  axes.append(el('line', { x1: m.left, x2: m.left, y1: m.top, y2: height - m.bottom, class: 'axis' }));
  axes.append(el('text', { x: (m.left + width - m.right) / 2, y: height - 6, 'text-anchor': 'middle', class: 'label' }, xLabel));
  axes.append(
    el(
      'text',
      { x: 14, y: (m.top + height - m.bottom) / 2, 'text-anchor': 'middle', transform: `rotate(-90 14 ${(m.top + height - m.bottom) / 2})`, class: 'label' },
      yLabel,
    ),
  );
  svg.append(axes);

  for (const s of series) {
    const points = s.points.filter((p) => Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
    const g = el('g', { class: 'series' });
    g.append(
      el('polyline', {
        points: points.map((p) => `${px(p.x)},${py(p.y)}`).join(' '),
        fill: 'none',
        stroke: s.colour,
        'stroke-width': 2,
        'stroke-dasharray': s.dash ?? 'none',
        class: 'line',
      }),
    );
    for (const p of points) {
      const marker =
        s.marker === 'square'
          ? el('rect', { x: px(p.x) - 4, y: py(p.y) - 4, width: 8, height: 8, fill: s.colour })
          : el('circle', { cx: px(p.x), cy: py(p.y), r: 4, fill: s.colour });
      marker.append(el('title', {}, `${s.label}: ${fmt(p.x)} → ${p.y.toFixed(3)}`));
      g.append(marker);
    }
    svg.append(g);
  }
  return svg;
}

/** A legend swatch (line + marker) as a tiny inline SVG, for an HTML legend that wraps. */
export function swatch(s) {
  const svg = el('svg', { viewBox: '0 0 28 12', width: 28, height: 12, 'aria-hidden': 'true' });
  svg.append(el('line', { x1: 1, x2: 27, y1: 6, y2: 6, stroke: s.colour, 'stroke-width': 2, 'stroke-dasharray': s.dash ?? 'none' }));
  svg.append(s.marker === 'square' ? el('rect', { x: 10, y: 2, width: 8, height: 8, fill: s.colour }) : el('circle', { cx: 14, cy: 6, r: 4, fill: s.colour }));
  return svg;
}
