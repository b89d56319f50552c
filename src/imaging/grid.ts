// Comparison figures: the original beside several maps, and a noise × samples sweep, each panel
// titled. Panels are PNGs (from render.ts) so any map, overlay or colour bar can be placed.
import sharp, { type OverlayOptions } from 'sharp';
import { type DecodedImage } from './decode.js';
import { svgText } from './svg-text.js';

export interface GridPanel {
  title: string;
  png: Uint8Array;
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
  const originalPng = await sharp(original.data, { raw: { width: original.width, height: original.height, channels: 3 } }).png().toBuffer();
  const panels = [{ title: originalTitle, png: originalPng }, ...maps];
  const width = panels.length * panelSize + (panels.length + 1) * gap;
  const height = labelHeight + panelSize + 2 * gap;
  const layers: OverlayOptions[] = [];
  for (const [i, panel] of panels.entries()) {
    const left = gap + i * (panelSize + gap);
    layers.push({ input: svgText({ text: panel.title, width: panelSize, height: labelHeight }), left, top: gap });
    layers.push({ input: await fitPanel(panel.png, panelSize), left, top: gap + labelHeight });
  }
  return sharp({ create: { width, height, channels: 3, background: WHITE } }).composite(layers).png().toBuffer();
}

export interface SweepGrid {
  /** One label per row, e.g. noise levels ("σ = 0.10"). */
  rowLabels: readonly string[];
  /** One label per column, e.g. sample counts ("n = 10"). */
  columnLabels: readonly string[];
  /** cells[row][column], PNGs. */
  cells: readonly (readonly Uint8Array[])[];
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
  const rowLabelWidth = panelSize;
  const width = rowLabelWidth + cols * (panelSize + gap) + gap;
  const height = labelHeight + rows * (panelSize + gap) + gap;
  const cellLeft = (c: number): number => rowLabelWidth + gap + c * (panelSize + gap);
  const cellTop = (r: number): number => labelHeight + gap + r * (panelSize + gap);
  const layers: OverlayOptions[] = [
    { input: svgText({ text: grid.corner ?? 'noise ↓ samples →', width: rowLabelWidth, height: labelHeight, fontSize: 12 }), left: 0, top: 0 },
  ];
  grid.columnLabels.forEach((label, c) => layers.push({ input: svgText({ text: label, width: panelSize, height: labelHeight }), left: cellLeft(c), top: 0 }));
  grid.rowLabels.forEach((label, r) =>
    layers.push({ input: svgText({ text: label, width: rowLabelWidth, height: panelSize, fontSize: Math.round(labelHeight * 0.55) }), left: 0, top: cellTop(r) }),
  );
  for (const [r, row] of grid.cells.entries()) {
    for (const [c, cell] of row.entries()) layers.push({ input: await fitPanel(cell, panelSize), left: cellLeft(c), top: cellTop(r) });
  }
  return sharp({ create: { width, height, channels: 3, background: WHITE } }).composite(layers).png().toBuffer();
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
