// The imaging layer's public surface: the only place in the service that touches sharp.
export { decodeImage, DEFAULT_PIXEL_LIMIT, type DecodedImage, type DecodeOptions } from './decode.js';
export { ImageError, IMAGE_ERROR_CODES, IMAGE_ERROR_STATUS, type ImageErrorCode } from './errors.js';
export { computeGeometry, projectToOriginal, type Geometry } from './geometry.js';
export { preprocess, modelView, type PreprocessedImage } from './preprocess.js';
export { validatePreprocessSpec, type PreprocessSpec, type ResizeMode } from './preprocess-spec.js';
export { reduceChannels, REDUCTIONS, SIGNS, type Reduction, type Sign, type Map2D, type RawTensor } from './reduce.js';
export { clipAndScale, cumulativeThreshold, percentile, presetScaling, SCALINGS, type Scaling, type ScaledMap } from './scale.js';
export { COLORMAPS, SEQUENTIAL_COLORMAPS, DIVERGING_COLORMAPS, getLut, type ColormapName } from './colormaps.js';
export { resolveRenderOptions, SCALING_DEFAULTS, type RenderOptions, type RenderParams, type MethodKind } from './render-options.js';
export { renderHeatmap, renderOverlay, renderMap, renderColourBar, type RenderSource, type RenderedPng, type MapExport } from './render.js';
export { renderComparisonGrid, renderSweepGrid, tickLabel, type GridPanel, type Legend, type SweepGrid } from './grid.js';
export { encodeNpy, decodeNpy, NpyError, type NpyArray } from './npy.js';
