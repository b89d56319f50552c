// GET / and /web/*: the web page, static files built only on the public API. tsc copies
// nothing but .ts into dist/, so the files are read from <package root>/src/gateway/web, and only
// the ones named below: a fixed allow-list, so no request path ever reaches the file system.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type FastifyInstance, type FastifyReply } from 'fastify';
import { PACKAGE_ROOT } from '../../config/config.js';
import { COLORMAP_TABLES } from '../../imaging/colormap-tables.js';

export const WEB_DIR = join(PACKAGE_ROOT, 'src', 'gateway', 'web');

/** The page's ES modules (index.html loads app.js; it imports the rest). */
export const WEB_MODULES = [
  'app.js',
  'api.js',
  'cells.js',
  'colormaps.js',
  'compare-tab.js',
  'dom.js',
  'explain-tab.js',
  'feedback.js',
  'image-input.js',
  'method-form.js',
  'metrics.js',
  'models.js',
  'plot.js',
  'renderings.js',
  'similarity.js',
  'state.js',
  'tabs.js',
  'targets.js',
  'tune-tab.js',
] as const;

const TYPES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  ...Object.fromEntries(WEB_MODULES.map((name) => [name, 'text/javascript; charset=utf-8'])),
};

// Everything comes from us (the page works offline): no inline scripts, no outside origins.
// Renderings are fetched with the API key and shown as blob: URLs.
const CSP = [
  "default-src 'self'",
  "img-src 'self' blob: data:",
  "connect-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Modules built from the server's own code, so the page and the server share one copy. */
const GENERATED: Readonly<Record<string, string>> = {
  'colormap-tables.js': `// The server's colour tables (src/imaging/colormap-tables.ts).\nexport const COLORMAP_TABLES = ${JSON.stringify(COLORMAP_TABLES)};\n`,
};

async function sendFile(reply: FastifyReply, name: string): Promise<FastifyReply> {
  const generated = Object.hasOwn(GENERATED, name) ? GENERATED[name] : undefined;
  const type = generated !== undefined ? 'text/javascript; charset=utf-8' : Object.hasOwn(TYPES, name) ? TYPES[name] : undefined;
  if (type === undefined) {
    reply.callNotFound();
    return reply;
  }
  const body = generated ?? (await readFile(join(WEB_DIR, name)));
  return (
    reply
      .header('content-type', type)
      // Small files, and a restarted server may serve new ones: revalidate rather than cache blindly.
      .header('cache-control', 'no-cache')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .send(body)
  );
}

export function webRoutes(app: FastifyInstance): void {
  app.get('/', { schema: { hide: true } }, async (_request, reply) => sendFile(reply, 'index.html'));
  app.get('/web/:file', { schema: { hide: true } }, async (request, reply) => sendFile(reply, (request.params as { file: string }).file));
}
