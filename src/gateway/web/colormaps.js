// Colour bars drawn client-side from small anchor tables: the same anchors the server's LUTs
// interpolate (src/imaging/colormap-anchors.ts and the `colormap` package), so the bar matches
// the heatmap without another request.

const even = (rows) => rows.map((rgb, i) => [i / (rows.length - 1), ...rgb]);

/** [position in [0, 1], r, g, b] */
const ANCHORS = {
  viridis: [[0, 68, 1, 84], [0.13, 71, 44, 122], [0.25, 59, 81, 139], [0.38, 44, 113, 142], [0.5, 33, 144, 141], [0.63, 39, 173, 129], [0.75, 92, 200, 99], [0.88, 170, 220, 50], [1, 253, 231, 37]],
  inferno: [[0, 0, 0, 4], [0.13, 31, 12, 72], [0.25, 85, 15, 109], [0.38, 136, 34, 106], [0.5, 186, 54, 85], [0.63, 227, 89, 51], [0.75, 249, 140, 10], [0.88, 249, 201, 50], [1, 252, 255, 164]],
  magma: [[0, 0, 0, 4], [0.13, 28, 16, 68], [0.25, 79, 18, 123], [0.38, 129, 37, 129], [0.5, 181, 54, 122], [0.63, 229, 80, 100], [0.75, 251, 135, 97], [0.88, 254, 194, 135], [1, 252, 253, 191]],
  // Crameri's Scientific Colour Maps 8.0.1 (doi:10.5281/zenodo.1243862), every third level of 25.
  batlow: even([[1, 25, 89], [17, 67, 96], [34, 96, 97], [77, 115, 77], [130, 130, 49], [190, 144, 53], [241, 157, 107], [253, 180, 180], [250, 204, 250]]),
  gray: [[0, 0, 0, 0], [1, 255, 255, 255]],
  // ColorBrewer RdBu, blue (negative) → white (zero) → red (positive).
  RdBu: even([[5, 48, 97], [33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240], [247, 247, 247], [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43], [103, 0, 31]]),
  vik: even([[0, 18, 97], [3, 68, 129], [48, 125, 166], [148, 190, 210], [213, 227, 233], [236, 229, 224], [228, 191, 170], [203, 131, 90], [169, 69, 18], [108, 14, 7], [89, 0, 8]]),
  jet: [[0, 0, 0, 131], [0.125, 0, 60, 170], [0.375, 5, 255, 255], [0.625, 255, 255, 0], [0.875, 250, 0, 0], [1, 128, 0, 0]],
};

export const DIVERGING = new Set(['RdBu', 'vik']);

/** sRGB colour of unit value t in [0, 1]. */
export function colourAt(name, t) {
  const anchors = ANCHORS[name] ?? ANCHORS.viridis;
  const x = Math.min(Math.max(t, 0), 1);
  let k = 0;
  while (k < anchors.length - 2 && x > anchors[k + 1][0]) k++;
  const [t0, ...a] = anchors[k];
  const [t1, ...b] = anchors[k + 1];
  const f = t1 > t0 ? (x - t0) / (t1 - t0) : 0;
  return a.map((v, c) => Math.round(v * (1 - f) + b[c] * f));
}

/** Fills a canvas left (low) to right (high) with the colormap. */
export function drawColourBar(canvas, name) {
  const ctx = canvas.getContext('2d');
  const { width, height } = canvas;
  const image = ctx.createImageData(width, height);
  for (let x = 0; x < width; x++) {
    const [r, g, b] = colourAt(name, x / Math.max(width - 1, 1));
    for (let y = 0; y < height; y++) image.data.set([r, g, b, 255], 4 * (y * width + x));
  }
  ctx.putImageData(image, 0, 0);
}
