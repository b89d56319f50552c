// Renderings of a stored raw attribution, on demand, with the rendering parameters of docs/methods.md as
// query parameters: compute once, view many ways. Colouring runs in the render pool's worker
// threads (never on this event loop); rendered PNGs are cached per job and parameters in a
// byte-bounded LRU of this process.
import { createHash } from 'node:crypto';
import { type FastifyInstance, type FastifyRequest } from 'fastify';
import { type Geometry, ImageError, type RenderOptions, type RenderSource, resolveRenderOptions, presetScaling } from '../../imaging/index.js';
import { encodeNpy } from '../../imaging/npy.js';
import { RenderBusyError, type RenderPool } from '../../imaging/render-pool.js';
import { type JobStatus, keys } from '../../jobs/contract.js';
import { type GatewayDeps } from '../deps.js';
import { apiError, codedError } from '../errors.js';
import { type CachedRendering, RenderCache } from '../render-cache.js';
import { ErrorSchema, IdParams, MapQuery, MapSchema, NpyResponse, PngResponse, RenderQuery, TargetQuery } from '../schemas.js';
import { loadOwnedStatus } from './explanations.js';

interface Loaded {
  status: JobStatus;
  source: RenderSource;
}

/**
 * A several-target job's attribution is [K, …]: `target` picks one class's slice (default: the
 * first; `all` keeps the stack, for attribution.npy).
 */
function pickTarget(
  status: JobStatus,
  data: Float32Array,
  shape: number[],
  target: string | undefined,
  all: boolean,
): { data: Float32Array; shape: number[]; slot: number } {
  const maps = status.result?.targets;
  if (!maps) {
    if (target !== undefined) throw apiError('SALIENCY_BAD_RENDER_PARAM', [`this explanation has one target; 'target' applies to jobs sent with targets=…`]);
    return { data, shape, slot: -1 };
  }
  if (target === undefined && all) return { data, shape, slot: -1 };
  const slot = target === undefined ? 0 : maps.findIndex((m) => String(m.index) === target || m.label === target);
  if (slot < 0)
    throw apiError('SALIENCY_BAD_RENDER_PARAM', [`target ${target} is not one of this explanation's targets (${maps.map((m) => m.index).join(', ')})`]);
  const size = data.length / maps.length;
  return { data: data.subarray(slot * size, (slot + 1) * size), shape: [1, ...shape.slice(1)], slot };
}

async function loadAttribution(deps: GatewayDeps, request: FastifyRequest, all = false): Promise<Loaded & { slot: number }> {
  const { id } = request.params as { id: string };
  const status = await loadOwnedStatus(deps, request, id);
  if (status.state !== 'completed' || !status.result) throw apiError('SALIENCY_NOT_READY', [id, status.state]);
  const bytes = await deps.store.get(keys.attribution(id));
  if (!bytes) throw apiError('SALIENCY_RESULT_EXPIRED', [id]);
  const data = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(data.buffer).set(bytes);
  const entry = deps.registry.get(status.payload.model);
  const layout = status.result.attribution.shape[1] === 1 ? 'NCHW' : (entry?.manifest.input.layout ?? 'NCHW');
  const picked = pickTarget(status, data, status.result.attribution.shape, (request.query as { target?: string } | undefined)?.target, all);
  return {
    status,
    slot: picked.slot,
    source: { raw: { data: picked.data, shape: picked.shape }, layout, ...(status.result.geometry ? { geometry: status.result.geometry as Geometry } : {}) },
  };
}

function options(status: JobStatus, query: unknown): RenderOptions {
  try {
    // A result computed under a parity preset is drawn the way that library's visualiser draws it.
    const { target: _target, ...rendering } = (query ?? {}) as Record<string, unknown>;
    const kind = status.result?.attribution.kind === 'attribution' ? 'attribution' : 'sensitivity';
    return resolveRenderOptions(kind, rendering, presetScaling(status.result?.params['preset']));
  } catch (err) {
    if (err instanceof ImageError) throw codedError(err.code, err.message);
    throw err;
  }
}

async function originalBytes(deps: GatewayDeps, status: JobStatus): Promise<Buffer> {
  if (status.payload.input.kind !== 'image')
    throw apiError('SALIENCY_BAD_RENDER_PARAM', ['this explanation was computed from a tensor: there is no image to overlay; use heatmap.png']);
  const bytes = await deps.store.get(status.payload.input.key);
  if (!bytes) throw apiError('SALIENCY_RESULT_EXPIRED', [status.id]);
  return bytes;
}

/** The pool's failures as API errors: bad parameters are the request's, a full pool is a 503. */
async function pooled<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ImageError) throw codedError(err.code, err.message);
    if (err instanceof RenderBusyError) throw apiError('SALIENCY_RENDER_BUSY', [], { 'retry-after': '2' });
    throw err;
  }
}

const variant = (kind: string, o: RenderOptions) =>
  createHash('sha256')
    .update(`${kind}:${JSON.stringify(o)}`)
    .digest('hex')
    .slice(0, 24);

export function renderingRoutes(app: FastifyInstance, deps: GatewayDeps, renderer: RenderPool): void {
  const cache = new RenderCache(deps.config.RENDER_CACHE_MB * 1024 * 1024, deps.config.RESULT_TTL_SECONDS * 1000);
  // A deleted job's renderings leave memory with it.
  app.addHook('onResponse', async (request, reply) => {
    if (request.method === 'DELETE' && reply.statusCode === 204 && request.routeOptions.url === '/v1/explanations/:id') {
      cache.deletePrefix(`${(request.params as { id: string }).id}:`);
    }
  });

  const pngRoute = (kind: 'heatmap' | 'overlay') =>
    app.get(
      `/v1/explanations/:id/${kind}.png`,
      {
        schema: {
          summary: kind === 'heatmap' ? 'Heatmap PNG of the attribution' : 'Heatmap over a grayscale copy of the original image (PNG)',
          description:
            "Query: reduce (l2, abs-sum, abs-max, sum, mean), sign (abs, positive, negative, all), clip (percentile), scaling (service, captum, pair, xplique: a library visualiser's scaling; default: the preset the result was computed under, else service), scale (image or a number), colormap (viridis, inferno, magma, batlow, gray, RdBu, vik, jet), overlay (alpha), size (input, original). Headers X-Saliency-Scale and X-Saliency-Clip report the values used. size=original renderings of images larger than the server's MAX_RENDER_PIXELS are drawn at the largest size within it that keeps the aspect ratio; 503 with Retry-After when the renderer is saturated.",
          params: IdParams,
          querystring: RenderQuery,
          response: { 200: PngResponse, '4xx': ErrorSchema, 503: ErrorSchema },
        },
        // resolveRenderOptions validates the query (SALIENCY_BAD_RENDER_PARAM, saying what is allowed).
        attachValidation: true,
      },
      async (request, reply) => {
        const { status, source, slot } = await loadAttribution(deps, request);
        const o = options(status, request.query);
        // A tensor input has no original geometry: render at model resolution.
        const geometryOptions = source.geometry ? o : { ...o, size: 'input' as const };
        const rendered: CachedRendering = await cache.get(`${status.id}:${variant(`${kind}:${slot}`, geometryOptions)}`, async () =>
          pooled(async () => renderer.png(kind, source, geometryOptions, kind === 'overlay' ? await originalBytes(deps, status) : undefined)),
        );
        const png = rendered.png;
        const scale = String(rendered.scale);
        const clip = String(rendered.clipValue);
        return reply
          .header('content-type', 'image/png')
          .header('cache-control', 'private, max-age=3600')
          .header('x-saliency-scale', scale.trim())
          .header('x-saliency-clip', clip.trim())
          .send(png);
      },
    );
  pngRoute('heatmap');
  pngRoute('overlay');

  app.get(
    '/v1/explanations/:id/attribution.npy',
    {
      schema: {
        summary: 'The raw attribution: float32 .npy, unreduced, with the model input’s shape ([K, …] for a several-target job; ?target= picks one)',
        params: IdParams,
        querystring: TargetQuery,
        response: { 200: NpyResponse, '4xx': ErrorSchema },
      },
    },
    async (request, reply) => {
      const { status, source } = await loadAttribution(deps, request, true);
      return reply
        .header('content-type', 'application/x-npy')
        .header('content-disposition', `attachment; filename="${status.id}.npy"`)
        .send(Buffer.from(encodeNpy({ data: source.raw.data, shape: [...source.raw.shape] })));
    },
  );

  app.get(
    '/v1/explanations/:id/map.json',
    {
      schema: {
        summary: 'The reduced, clipped 2-D map as numbers (for dashboards)',
        description: 'Query: reduce, sign, clip, scale, scaling (see heatmap.png). Always at model resolution.',
        params: IdParams,
        querystring: MapQuery,
        response: { 200: MapSchema, '4xx': ErrorSchema, 503: ErrorSchema },
      },
      attachValidation: true,
    },
    async (request) => {
      const { status, source, slot } = await loadAttribution(deps, request);
      const o = options(status, request.query);
      const map = await pooled(() => renderer.map(source, o));
      // The quality metrics of the map shown: the picked class's (several targets), else the job's.
      const metrics = slot < 0 ? status.result?.metrics : status.result?.targets?.[slot]?.metrics;
      return metrics ? { ...map, metrics } : map;
    },
  );
}
