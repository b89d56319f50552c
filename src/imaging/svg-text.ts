// Text labels as SVG, rasterised by sharp's librsvg: no font files of our own, a generic family
// that fontconfig resolves to whatever sans-serif face the host has.
export interface TextBox {
  text: string;
  width: number;
  height: number;
  fontSize?: number;
  bold?: boolean;
}

export function svgText({ text, width, height, fontSize = Math.round(height * 0.55), bold = false }: TextBox): Buffer {
  // Shrink long labels to fit the box instead of clipping them: an average sans-serif glyph is
  // about 0.6 em wide (no font metrics are available without loading the font).
  fontSize = Math.max(6, Math.min(fontSize, Math.floor(width / (0.6 * Math.max(text.length, 1)))));
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<text x="${width / 2}" y="${height / 2}" font-family="sans-serif" font-size="${fontSize}"` +
    ` font-weight="${bold ? 'bold' : 'normal'}" fill="#000" text-anchor="middle" dominant-baseline="central">` +
    `${escapeXml(text)}</text></svg>`;
  return Buffer.from(svg);
}

/** Titles come from users (method names, labels): escape them so they stay text, not markup. */
export function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c);
}
