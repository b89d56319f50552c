// sRGB anchor tables for the maps the `colormap` package lacks or gets wrong; colormaps.ts
// interpolates them linearly into 256-entry LUTs. Anchors are evenly spaced from low to high.
export type Rgb = readonly [number, number, number];

/**
 * batlow (sequential) and vik (diverging, blue → light centre → red-brown): Crameri's Scientific
 * Colour Maps 8.0.1, the official 25-level discrete palettes. Crameri, F. (2018). Scientific
 * colour maps. Zenodo. doi:10.5281/zenodo.1243862 (MIT licence).
 */
export const BATLOW: readonly Rgb[] = [
  [1, 25, 89], [10, 42, 92], [14, 55, 94], [17, 67, 96], [20, 78, 98],
  [25, 87, 98], [34, 96, 97], [45, 103, 93], [60, 109, 86], [77, 115, 77],
  [93, 120, 68], [111, 125, 58], [130, 130, 49], [149, 135, 44], [171, 140, 45],
  [190, 144, 53], [210, 147, 67], [228, 151, 86], [241, 157, 107], [250, 164, 133],
  [253, 172, 158], [253, 180, 180], [253, 188, 203], [252, 195, 225], [250, 204, 250],
];

export const VIK: readonly Rgb[] = [
  [0, 18, 97], [2, 35, 108], [2, 51, 118], [3, 68, 129], [6, 86, 140],
  [21, 103, 152], [48, 125, 166], [78, 146, 180], [113, 168, 196], [148, 190, 210],
  [179, 209, 223], [213, 227, 233], [236, 229, 224], [237, 213, 200], [228, 191, 170],
  [220, 172, 144], [211, 151, 116], [203, 131, 90], [195, 114, 67], [186, 94, 42],
  [169, 69, 18], [148, 47, 6], [126, 29, 6], [108, 14, 7], [89, 0, 8],
];

/**
 * ColorBrewer RdBu, 11 classes (Brewer, colorbrewer2.org; the table matplotlib's RdBu
 * interpolates), listed blue → white → red so that high (positive) values are red, the saliency
 * convention. Not the `colormap` package's 'rdbu': that one is plotly's blue–grey–red scale with
 * a grey (190) centre and uneven anchors, so zero would not read as "nothing".
 */
export const RDBU_POSITIVE_RED: readonly Rgb[] = [
  [5, 48, 97], [33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240],
  [247, 247, 247], [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43], [103, 0, 31],
];
