// Image inputs for the CLI: decode, preprocess with the model's manifest, render results.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  type DecodedImage,
  decodeImage,
  type Geometry,
  type Legend,
  preprocess,
  type RenderParams,
  renderHeatmap,
  renderOverlay,
  resolveRenderOptions,
} from '../imaging/index.js';
import { type Tensor } from '../methods/runner.js';
import { type Manifest } from '../models/manifest.js';
import { loadManifest, readLabels } from '../models/registry.js';
import { preprocessSpec } from '../worker/manifest-mapping.js';
import { UsageError } from './flags.js';

export interface ImageInput {
  x: Tensor;
  image: DecodedImage;
  geometry: Geometry;
  manifest: Manifest;
}

/** The manifest (the one given, or manifest.json beside the model) and the class names of its labels file. */
export function findManifest(modelPath: string, given: string | undefined): { manifest: Manifest; labels: string[] | undefined } {
  const path = given ?? join(dirname(modelPath), 'manifest.json');
  if (!existsSync(path)) throw new UsageError(`an image input needs a manifest (how to preprocess it): pass --manifest, or put manifest.json beside the model`);
  // loadManifest reads <dir>/manifest.json: point it at the folder of the given file.
  if (!path.endsWith('manifest.json')) throw new UsageError(`--manifest must be a file named manifest.json, got ${path}`);
  const manifest = loadManifest(dirname(path));
  return { manifest, labels: readLabels(dirname(path), manifest) };
}

export async function imageInput(path: string, manifest: Manifest): Promise<ImageInput> {
  const image = await decodeImage(readFileSync(path));
  const pre = await preprocess(image, preprocessSpec(manifest));
  return { x: { data: pre.data, dims: [...pre.shape] }, image, geometry: pre.geometry, manifest };
}

export const RENDER_FLAGS = ['reduce', 'sign', 'clip', 'scale', 'colormap', 'overlay', 'size', 'scaling'] as const;

/** A heatmap (or, when --overlay is given, an overlay) PNG of one attribution. */
export async function renderPng(
  attribution: Tensor,
  kind: 'sensitivity' | 'attribution',
  input: ImageInput | undefined,
  flags: RenderParams,
): Promise<{ png: Uint8Array; scale: number; legend: Legend }> {
  const given = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
  const options = resolveRenderOptions(kind, input ? given : { ...given, size: 'input' });
  const source = {
    raw: { data: attribution.data, shape: attribution.dims },
    layout: input?.manifest.input.layout ?? ('NCHW' as const),
    ...(input ? { geometry: input.geometry } : {}),
  };
  const rendered = input && flags.overlay !== undefined ? await renderOverlay(source, input.image, options) : await renderHeatmap(source, options);
  return {
    png: rendered.png,
    scale: rendered.scale,
    legend: {
      colormap: rendered.colormap,
      low: rendered.offset - (rendered.centred ? rendered.scale : 0),
      high: rendered.offset + rendered.scale,
    },
  };
}
