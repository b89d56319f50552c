// GET /openapi.json and a small, dependency-free docs page (the service works offline).
import { type FastifyInstance } from 'fastify';

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);

export function docsRoutes(app: FastifyInstance, document: () => Record<string, unknown>): void {
  app.get('/openapi.json', { schema: { hide: true } }, async () => document());

  app.get('/docs', { schema: { hide: true } }, async (_request, reply) => {
    const doc = document() as { info: { title: string; version: string; description: string }; paths: Record<string, Record<string, { summary?: string; description?: string; parameters?: { name: string; in: string }[] }>> };
    const rows = Object.entries(doc.paths)
      .flatMap(([path, ops]) =>
        Object.entries(ops).map(
          ([method, op]) =>
            `<section><h2><code>${method.toUpperCase()} ${escape(path)}</code></h2><p>${escape(op.summary ?? '')}</p>${op.description ? `<p class="d">${escape(op.description)}</p>` : ''}${
              op.parameters?.length ? `<p class="p">Parameters: ${op.parameters.map((p) => `<code>${escape(p.name)}</code> (${p.in})`).join(', ')}</p>` : ''
            }</section>`,
        ),
      )
      .join('\n');
    const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escape(doc.info.title)} API</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#1a1a1a}code{background:#f1f1f1;padding:0 .25rem;border-radius:3px}section{border-top:1px solid #ddd;padding:.5rem 0}.d,.p{color:#333;font-size:.95rem}h2{font-size:1.05rem;margin:.5rem 0}</style></head>
<body><h1>${escape(doc.info.title)} <small>v${escape(doc.info.version)}</small></h1><p>${escape(doc.info.description)} Machine-readable: <a href="/openapi.json">/openapi.json</a>. Try it: <a href="/">the web page</a>.</p>
${rows}</body></html>`;
    return reply.type('text/html; charset=utf-8').send(html);
  });
}
