// Renderings of a stored raw attribution, on demand, with the rendering parameters of docs/methods.md as
// query parameters: compute once, view many ways. Rendered PNGs are cached per job and parameters.
import { createHash } from 'node:crypto';
import { type FastifyInstance, type FastifyRequest } from 'fastify';
import { type DecodedImage, decodeImage, type Geometry, ImageError, type RenderOptions, type RenderSource, renderHeatmap, renderMap, renderOverlay, resolveRenderOptions } from '../../imaging/index.js';
import { encodeNpy } from '../../imaging/npy.js';
import { type JobStatus, keys } from '../../jobs/contract.js';
import { type GatewayDeps } from '../deps.js';
import { apiError, codedError } from '../errors.js';
import { ErrorSchema, IdParams, RenderQuery } from '../schemas.js';
import { loadOwnedStatus } from './explanations.js';

interface Loaded {
  status: JobStatus;
  source: RenderSource;
}

async function loadAttribution(deps: GatewayDeps, request: FastifyRequest): Promise<Loaded> {
  const { id } = request.params as { id: string };
  const status = await loadOwnedStatus(deps, request, id);
  if (status.state !== 'completed' || !status.result) throw apiError('SALIENCY_NOT_READY', [id, status.state]);
  const bytes = await deps.store.get(keys.attribution(id));
  if (!bytes) throw apiError('SALIENCY_RESULT_EXPIRED', [id]);
  const data = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(data.buffer).set(bytes);
  const entry = deps.registry.get(status.payload.model);
  const layout = status.result.attribution.shape[1] === 1 ? 'NCHW' : (entry?.manifest.input.layout ?? 'NCHW');
  return {
    status,
    source: { raw: { data, shape: status.result.attribution.shape }, layout, ...(status.result.geometry ? { geometry: status.result.geometry as Geometry } : {}) },
  };
}

function options(status: JobStatus, query: unknown): RenderOptions {
  try {
    return resolveRenderOptions(status.result?.attribution.kind === 'attribution' ? 'attribution' : 'sensitivity', (query ?? {}) as Record<string, unknown>);
  } catch (err) {
    if (err instanceof ImageError) throw codedError(err.code, err.message);
    throw err;
  }
}

async function originalImage(deps: GatewayDeps, status: JobStatus): Promise<DecodedImage> {
  if (status.payload.input.kind !== 'image') throw apiError('SALIENCY_BAD_RENDER_PARAM', ['this explanation was computed from a tensor: there is no image to overlay; use heatmap.png']);
  const bytes = await deps.store.get(status.payload.input.key);
  if (!bytes) throw apiError('SALIENCY_RESULT_EXPIRED', [status.id]);
  return decodeImage(bytes, { limitInputPixels: deps.config.MAX_IMAGE_PIXELS });
}

const variant = (kind: string, o: RenderOptions) => createHash('sha256').update(`${kind}:${JSON.stringify(o)}`).digest('hex').slice(0, 24);

export function renderingRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const pngRoute = (kind: 'heatmap' | 'overlay') =>
    app.get(
      `/v1/explanations/:id/${kind}.png`,
      {
        schema: {
          summary: kind === 'heatmap' ? 'Heatmap PNG of the attribution' : 'Heatmap over a grayscale copy of the original image (PNG)',
          description: 'Query: reduce (l2, abs-sum, abs-max, sum, mean), sign (abs, positive, negative, all), clip (percentile), scale (image or a number), colormap (viridis, inferno, magma, batlow, gray, RdBu, vik, jet), overlay (alpha), size (input, original). Headers X-Saliency-Scale and X-Saliency-Clip report the values used.',
          params: IdParams,
          querystring: RenderQuery,
          produces: ['image/png'],
          response: { '4xx': ErrorSchema },
        },
      },
      async (request, reply) => {
        const { status, source } = await loadAttribution(deps, request);
        const o = options(status, request.query);
        const key = keys.rendering(status.id, variant(kind, o));
        const cached = await deps.store.get(key);
        let png: Buffer;
        let scale = '';
        let clip = '';
        // Cached renderings start with a 64-byte text header "<scale> <clip>\n", then the PNG.
        if (cached) {
          const meta = cached.subarray(0, 64).toString('latin1').split('\n')[0] ?? '';
          [scale = '', clip = ''] = meta.split(' ');
          png = cached.subarray(64);
        } else {
          // A tensor input has no original geometry: render at model resolution.
          const geometryOptions = source.geometry ? o : { ...o, size: 'input' as const };
          const rendered = kind === 'heatmap' ? await renderHeatmap(source, geometryOptions) : await renderOverlay(source, await originalImage(deps, status), geometryOptions);
          png = Buffer.from(rendered.png);
          scale = String(rendered.scale);
          clip = String(rendered.clipValue);
          const header = Buffer.alloc(64, 0x20);
          header.write(`${scale} ${clip}\n`, 'latin1');
          await deps.store.put(key, Buffer.concat([header, png]), deps.config.RESULT_TTL_SECONDS);
        }
        return reply.header('content-type', 'image/png').header('cache-control', 'private, max-age=3600').header('x-saliency-scale', scale.trim()).header('x-saliency-clip', clip.trim()).send(png);
      },
    );
  pngRoute('heatmap');
  pngRoute('overlay');

  app.get(
    '/v1/explanations/:id/attribution.npy',
    { schema: { summary: 'The raw attribution: float32 .npy, unreduced, with the model input’s shape', params: IdParams, produces: ['application/octet-stream'], response: { '4xx': ErrorSchema } } },
    async (request, reply) => {
      const { status, source } = await loadAttribution(deps, request);
      return reply
        .header('content-type', 'application/octet-stream')
        .header('content-disposition', `attachment; filename="${status.id}.npy"`)
        .send(Buffer.from(encodeNpy({ data: source.raw.data, shape: [...source.raw.shape] })));
    },
  );

  app.get(
    '/v1/explanations/:id/map.json',
    {
      schema: {
        summary: 'The reduced, clipped 2-D map as numbers (for dashboards)',
        description: 'Query: reduce, sign, clip, scale (see heatmap.png). Always at model resolution.',
        params: IdParams,
        querystring: RenderQuery,
        response: { '4xx': ErrorSchema },
      },
    },
    async (request) => {
      const { status, source } = await loadAttribution(deps, request);
      const o = options(status, request.query);
      return renderMap(source, o);
    },
  );
}
