// Comparison figures: the original beside several maps, and a noise × samples sweep, each panel
// titled and each map with its colour bar (maps are scaled per image, so every panel has its
// own range). Panels are PNGs (from render.ts) so any map or overlay can be placed.
import sharp, { type OverlayOptions } from 'sharp';
import { type ColormapName } from './colormaps.js';
import { type DecodedImage } from './decode.js';
import { renderColourBar } from './render.js';
import { svgText } from './svg-text.js';

/** What a map's colours mean: the colour map from value `low` (left) to `high` (right). */
export interface Legend {
  colormap: ColormapName;
  low: number;
  high: number;
}

export interface GridPanel {
  title: string;
  png: Uint8Array;
  legend?: Legend;
}

const BAR_HEIGHT = 8;
const TICK_HEIGHT = 14;
/** Height of a colour bar with its numbers under a panel. */
export const LEGEND_HEIGHT = BAR_HEIGHT + TICK_HEIGHT + 2;

/** Short numbers for ticks: 0, 0.0123, 45.6, 1.2e-5. */
export function tickLabel(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 0.01 && a < 1000 ? String(Number(v.toPrecision(3))) : v.toExponential(1);
}

/** A colour bar `width` wide at (left, top), its low, middle and high values under it. */
async function legendLayers(legend: Legend, left: number, top: number, width: number): Promise<OverlayOptions[]> {
  const third = Math.floor(width / 3);
  const ticks = [legend.low, (legend.low + legend.high) / 2, legend.high];
  return [
    { input: await renderColourBar(legend.colormap, { width, height: BAR_HEIGHT }), left, top },
    ...ticks.map((v, i) => ({
      input: svgText({ text: tickLabel(v), width: third, height: TICK_HEIGHT, fontSize: 10 }),
      left: left + (i === 2 ? width - third : i * Math.floor((width - third) / 2)),
      top: top + BAR_HEIGHT + 2,
    })),
  ];
}

export interface GridLayout {
  /** Every panel is fitted (aspect kept, white margins) into a square of this many pixels. */
  panelSize?: number;
  gap?: number;
  labelHeight?: number;
}

const WHITE = { r: 255, g: 255, b: 255, alpha: 1 };

/** One row: the original image first, titled `originalTitle`, then each map with its title above. */
export async function renderComparisonGrid(
  original: DecodedImage,
  maps: readonly GridPanel[],
  { panelSize = 224, gap = 8, labelHeight = 28, originalTitle = 'original' }: GridLayout & { originalTitle?: string } = {},
): Promise<Buffer> {
  const originalPng = await sharp(original.data, { raw: { width: original.width, height: original.height, channels: 3 } })
    .png()
    .toBuffer();
  const panels: GridPanel[] = [{ title: originalTitle, png: originalPng }, ...maps];
  const legends = panels.some((p) => p.legend) ? LEGEND_HEIGHT + gap : 0;
  const width = panels.length * panelSize + (panels.length + 1) * gap;
  const height = labelHeight + panelSize + 2 * gap + legends;
  const layers: OverlayOptions[] = [];
  for (const [i, panel] of panels.entries()) {
    const left = gap + i * (panelSize + gap);
    layers.push({ input: svgText({ text: panel.title, width: panelSize, height: labelHeight }), left, top: gap });
    layers.push({ input: await fitPanel(panel.png, panelSize), left, top: gap + labelHeight });
    if (panel.legend) layers.push(...(await legendLayers(panel.legend, left, gap + labelHeight + panelSize + gap, panelSize)));
  }
  return sharp({ create: { width, height, channels: 3, background: WHITE } })
    .composite(layers)
    .png()
    .toBuffer();
}

export interface SweepGrid {
  /** One label per row, e.g. noise levels ("σ = 0.10"). */
  rowLabels: readonly string[];
  /** One label per column, e.g. sample counts ("n = 10"). */
  columnLabels: readonly string[];
  /** cells[row][column], PNGs. */
  cells: readonly (readonly Uint8Array[])[];
  /** legends[row][column]: each cell's colour bar (cells are scaled one by one). */
  legends?: readonly (readonly Legend[])[];
  /** Axis captions, drawn in the top-left corner; default 'noise ↓ samples →'. */
  corner?: string;
}

/** Rows = noise levels, columns = sample counts, labels along the top and the left. */
export async function renderSweepGrid(grid: SweepGrid, { panelSize = 128, gap = 4, labelHeight = 24 }: GridLayout = {}): Promise<Buffer> {
  const rows = grid.rowLabels.length;
  const cols = grid.columnLabels.length;
  if (grid.cells.length !== rows || grid.cells.some((r) => r.length !== cols)) {
    throw new RangeError(`sweep grid needs ${rows}×${cols} cells, one per row and column label`);
  }
  if (grid.legends && (grid.legends.length !== rows || grid.legends.some((r) => r.length !== cols))) {
    throw new RangeError(`sweep grid needs ${rows}×${cols} legends, one per cell`);
  }
  const rowLabelWidth = panelSize;
  const cellHeight = panelSize + (grid.legends ? LEGEND_HEIGHT + gap : 0);
  const width = rowLabelWidth + cols * (panelSize + gap) + gap;
  const height = labelHeight + rows * (cellHeight + gap) + gap;
  const cellLeft = (c: number): number => rowLabelWidth + gap + c * (panelSize + gap);
  const cellTop = (r: number): number => labelHeight + gap + r * (cellHeight + gap);
  const layers: OverlayOptions[] = [
    { input: svgText({ text: grid.corner ?? 'noise ↓ samples →', width: rowLabelWidth, height: labelHeight, fontSize: 12 }), left: 0, top: 0 },
  ];
  grid.columnLabels.forEach((label, c) => layers.push({ input: svgText({ text: label, width: panelSize, height: labelHeight }), left: cellLeft(c), top: 0 }));
  grid.rowLabels.forEach((label, r) =>
    layers.push({
      input: svgText({ text: label, width: rowLabelWidth, height: panelSize, fontSize: Math.round(labelHeight * 0.55) }),
      left: 0,
      top: cellTop(r),
    }),
  );
  for (const [r, row] of grid.cells.entries()) {
    for (const [c, cell] of row.entries()) {
      layers.push({ input: await fitPanel(cell, panelSize), left: cellLeft(c), top: cellTop(r) });
      const legend = grid.legends?.[r]?.[c];
      if (legend) layers.push(...(await legendLayers(legend, cellLeft(c), cellTop(r) + panelSize + gap, panelSize)));
    }
  }
  return sharp({ create: { width, height, channels: 3, background: WHITE } })
    .composite(layers)
    .png()
    .toBuffer();
}

/**
 * Fit a PNG into size×size, keeping its aspect ratio, flattening any transparency on white.
 * Enlarging uses nearest neighbour so a 14×14 Grad-CAM stays visibly blocky (honest about its
 * resolution); shrinking a photo uses lanczos3 to avoid aliasing.
 */
async function fitPanel(png: Uint8Array, size: number): Promise<Buffer> {
  const { width = size, height = size } = await sharp(png).metadata();
  return sharp(png)
    .flatten({ background: WHITE })
    .resize(size, size, { fit: 'contain', background: WHITE, kernel: Math.max(width, height) < size ? 'nearest' : 'lanczos3' })
    .png()
    .toBuffer();
}
